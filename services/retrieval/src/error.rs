//! The retrieval service's one error type. Its kind (through the shared table in
//! ragmesh-core) decides the gRPC status callers see: bad requests are InvalidArgument, an
//! unknown collection or source NotFound, a model or disk failure Internal/Unavailable.

use ragmesh_core::{Classify, CoreError, ErrorCode};
use ragmesh_embed::EmbedError;
use ragmesh_index::IndexError;

#[derive(Debug, thiserror::Error)]
pub enum RetrievalError {
    #[error("{0}")]
    InvalidArgument(String),
    #[error(transparent)]
    InvalidName(#[from] CoreError),
    #[error(transparent)]
    Index(#[from] IndexError),
    #[error(transparent)]
    Embed(#[from] EmbedError),
    #[error("cannot build the retrieval thread pool: {0}")]
    Pool(String),
    #[error("retrieval worker failed: {0}")]
    Worker(String),
    #[error("retrieval server: {0}")]
    Transport(#[from] ragmesh_rpc::RpcError),
}

impl RetrievalError {
    pub(crate) fn invalid(message: impl Into<String>) -> RetrievalError {
        RetrievalError::InvalidArgument(message.into())
    }
}

impl Classify for RetrievalError {
    fn code(&self) -> ErrorCode {
        match self {
            RetrievalError::InvalidArgument(_) => ErrorCode::InvalidArgument,
            RetrievalError::InvalidName(e) => e.code(),
            RetrievalError::Index(e) => e.code(),
            RetrievalError::Embed(e) => e.code(),
            RetrievalError::Pool(_) | RetrievalError::Worker(_) | RetrievalError::Transport(_) => {
                ErrorCode::Internal
            }
        }
    }
}
