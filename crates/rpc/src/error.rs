//! Errors of building clients and serving: a bad backend URL, or a server that failed.

use ragmesh_core::{Classify, ErrorCode};

#[derive(Debug, thiserror::Error)]
pub enum RpcError {
    #[error("invalid {service} service URL {url:?}: {reason}")]
    BadUrl {
        service: &'static str,
        url: String,
        reason: String,
    },
    #[error("no URL configured for the {service} service")]
    NoUrl { service: &'static str },
    #[error("gRPC reflection: {0}")]
    Reflection(String),
    #[error("gRPC server: {0}")]
    Serve(#[from] tonic::transport::Error),
}

impl Classify for RpcError {
    fn code(&self) -> ErrorCode {
        match self {
            RpcError::BadUrl { .. } | RpcError::NoUrl { .. } => ErrorCode::InvalidArgument,
            RpcError::Reflection(_) | RpcError::Serve(_) => ErrorCode::Internal,
        }
    }
}
