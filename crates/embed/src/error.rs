//! The one error type of the embedding crate. A failed embedding is always an error, never a
//! zero or partial vector, so nothing downstream can index or cache a meaningless result.

use ragmesh_core::{Classify, ErrorCode};
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    #[error("embedding model file {}: {reason}", path.display())]
    ModelFile { path: PathBuf, reason: String },
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    #[error("embedding model: {0}")]
    Model(#[from] candle_core::Error),
    #[error("embedding model produced a non-finite value for text {index}")]
    NonFinite { index: usize },
}

impl Classify for EmbedError {
    fn code(&self) -> ErrorCode {
        match self {
            // Without its files the model cannot serve: the caller should retry elsewhere/later.
            EmbedError::ModelFile { .. } => ErrorCode::Unavailable,
            EmbedError::Tokenizer(_) | EmbedError::Model(_) | EmbedError::NonFinite { .. } => {
                ErrorCode::Internal
            }
        }
    }
}
