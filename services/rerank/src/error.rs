//! The service's one error type. Its kind (through the shared table in ragmesh-core) decides
//! the gRPC status callers see.

use ragmesh_core::{Classify, ErrorCode};
use ragmesh_crossencoder::CrossEncoderError;

#[derive(Debug, thiserror::Error)]
pub enum RerankError {
    #[error("{0}")]
    InvalidArgument(String),
    #[error(transparent)]
    Model(#[from] CrossEncoderError),
    #[error("cannot build the rerank thread pool: {0}")]
    Pool(String),
    #[error("rerank worker failed: {0}")]
    Worker(String),
    #[error("the caller went away; scoring stopped")]
    Cancelled,
    #[error("rerank server: {0}")]
    Transport(#[from] ragmesh_rpc::RpcError),
}

impl Classify for RerankError {
    fn code(&self) -> ErrorCode {
        match self {
            RerankError::InvalidArgument(_) => ErrorCode::InvalidArgument,
            RerankError::Model(e) => e.code(),
            RerankError::Pool(_) | RerankError::Worker(_) | RerankError::Transport(_) => {
                ErrorCode::Internal
            }
            RerankError::Cancelled => ErrorCode::Cancelled,
        }
    }
}
