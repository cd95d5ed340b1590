//! The one error type of the index crate. Callers (the retrieval service) turn it into a gRPC
//! status through `ragmesh_core::to_status`, so the variant decides what a client sees:
//! bad input is InvalidArgument, a missing collection or source is NotFound, a corrupt backup
//! archive is UnprocessableEntity, restoring over a collection is AlreadyExists, and anything
//! that went wrong on disk is Internal.

use ragmesh_core::{Classify, CoreError, ErrorCode};

/// Errors of chunking, indexing and searching.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error(transparent)]
    InvalidName(#[from] CoreError),
    #[error("{0}")]
    InvalidArgument(String),
    #[error("collection '{0}' does not exist")]
    CollectionNotFound(String),
    #[error("source '{source_name}' does not exist in collection '{collection}'")]
    SourceNotFound {
        collection: String,
        source_name: String,
    },
    #[error("vector has {got} dimensions, collection '{collection}' holds {expected}")]
    DimensionMismatch {
        collection: String,
        expected: usize,
        got: usize,
    },
    #[error("word-piece offsets do not describe the text: {0}")]
    BadOffsets(String),
    #[error("embedding returned {got} vectors for {expected} texts")]
    EmbeddingCount { expected: usize, got: usize },
    #[error("text index: {0}")]
    Tantivy(#[from] tantivy::TantivyError),
    #[error("text index directory: {0}")]
    OpenDirectory(#[from] tantivy::directory::error::OpenDirectoryError),
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
    #[error("vector log {path}: {reason}")]
    CorruptLog { path: String, reason: String },
    #[error("index task failed: {0}")]
    TaskFailed(String),
    #[error("backup archive refused: {0}")]
    BadArchive(String),
    #[error("collection '{0}' already exists (restore with replace to overwrite it)")]
    CollectionExists(String),
}

impl IndexError {
    /// An I/O error with what was being done when it happened.
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> IndexError {
        IndexError::Io {
            context: context.into(),
            source,
        }
    }

    pub(crate) fn invalid(message: impl Into<String>) -> IndexError {
        IndexError::InvalidArgument(message.into())
    }
}

impl Classify for IndexError {
    fn code(&self) -> ErrorCode {
        match self {
            IndexError::InvalidName(e) => e.code(),
            IndexError::InvalidArgument(_) | IndexError::DimensionMismatch { .. } => {
                ErrorCode::InvalidArgument
            }
            IndexError::CollectionNotFound(_) | IndexError::SourceNotFound { .. } => {
                ErrorCode::NotFound
            }
            IndexError::BadArchive(_) => ErrorCode::UnprocessableEntity,
            IndexError::CollectionExists(_) => ErrorCode::AlreadyExists,
            IndexError::BadOffsets(_)
            | IndexError::EmbeddingCount { .. }
            | IndexError::Tantivy(_)
            | IndexError::OpenDirectory(_)
            | IndexError::Io { .. }
            | IndexError::CorruptLog { .. }
            | IndexError::TaskFailed(_) => ErrorCode::Internal,
        }
    }
}
