//! The cache crate's one error type. Almost none of these reach a client: an L2 failure is
//! logged and counted and the request goes on without L2; only invalid runtime configuration
//! is answered (422).

use ragmesh_core::{Classify, ErrorCode};

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("invalid cache configuration: {0}")]
    InvalidConfig(String),
    #[error("invalid Redis URL {url:?}: {reason}")]
    RedisUrl { url: String, reason: String },
    #[error("Redis {what} failed: {message}")]
    Redis { what: &'static str, message: String },
    /// The breaker is open: L2 was not asked.
    #[error("L2 skipped: Redis breaker open")]
    L2Skipped,
    #[error("cannot encode cache entry: {0}")]
    Encode(String),
}

impl CacheError {
    pub(crate) fn redis(e: fred::error::Error) -> CacheError {
        CacheError::Redis {
            what: "client setup",
            message: e.to_string(),
        }
    }
}

impl Classify for CacheError {
    fn code(&self) -> ErrorCode {
        match self {
            CacheError::InvalidConfig(_) => ErrorCode::UnprocessableEntity,
            CacheError::RedisUrl { .. } => ErrorCode::InvalidArgument,
            CacheError::Redis { .. } | CacheError::L2Skipped => ErrorCode::Unavailable,
            CacheError::Encode(_) => ErrorCode::Internal,
        }
    }
}
