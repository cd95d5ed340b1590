//! The one error type of `ragmesh-llm`, classified for the shared gRPC/HTTP status table so a
//! caller can tell a bad request (too long a prompt) from a model that cannot be loaded.

use ragmesh_core::{Classify, ErrorCode};
use std::path::PathBuf;

/// Everything that can go wrong while loading a model or generating with it.
#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    #[error("model file {path} cannot be read: {source}")]
    ModelFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("model file {path} is not a usable GGUF model: {reason}")]
    InvalidModel { path: PathBuf, reason: String },
    #[error("unsupported tokenizer in GGUF metadata: {0}")]
    UnsupportedTokenizer(String),
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    #[error("model computation failed: {0}")]
    Compute(#[from] candle_core::Error),
    #[error("invalid generation request: {0}")]
    InvalidRequest(String),
    #[error("prompt needs {tokens} tokens but at most {max} are allowed")]
    PromptTooLong { tokens: usize, max: usize },
    #[error("generation runtime: {0}")]
    Runtime(String),
}

impl Classify for LlmError {
    fn code(&self) -> ErrorCode {
        match self {
            LlmError::InvalidRequest(_) | LlmError::PromptTooLong { .. } => {
                ErrorCode::InvalidArgument
            }
            LlmError::ModelFile { .. }
            | LlmError::InvalidModel { .. }
            | LlmError::UnsupportedTokenizer(_) => ErrorCode::Unavailable,
            LlmError::Tokenizer(_) | LlmError::Compute(_) | LlmError::Runtime(_) => {
                ErrorCode::Internal
            }
        }
    }
}

impl LlmError {
    pub(crate) fn tokenizer(err: impl std::fmt::Display) -> Self {
        LlmError::Tokenizer(err.to_string())
    }
}
