//! The one error type of the load balancer: start-up and reload failures. Failures of single
//! proxied requests are Pingora errors (answered 502/503 to the client) and never surface here.

use ragmesh_core::{Classify, ErrorCode};

/// Why the load balancer could not start or apply a reload.
#[derive(Debug, thiserror::Error)]
pub enum LbError {
    #[error("invalid load balancer setting: {0}")]
    Config(String),
    #[error("cannot listen on {0}: {1}")]
    Listen(String, #[source] std::io::Error),
    #[error("the proxy did not start listening on {0} within {1:?}")]
    NotListening(String, std::time::Duration),
    #[error("cannot start the proxy thread: {0}")]
    Thread(#[source] std::io::Error),
    #[error("cannot start the admin listener: {0}")]
    Admin(#[from] ragmesh_telemetry::TelemetryError),
}

impl Classify for LbError {
    fn code(&self) -> ErrorCode {
        match self {
            LbError::Config(_) => ErrorCode::InvalidArgument,
            LbError::Listen(..)
            | LbError::NotListening(..)
            | LbError::Thread(_)
            | LbError::Admin(_) => ErrorCode::Internal,
        }
    }
}
