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
    /// A remote provider (Ollama, OpenAI-compatible) failed; the message names it.
    #[error("{backend} backend {problem}")]
    Remote {
        backend: &'static str,
        failure: RemoteFailure,
        problem: String,
    },
}

/// How a remote provider failed; decides the status the caller sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemoteFailure {
    /// Not configured, unreachable, refused the request (bad key, unknown model, 5xx), broke
    /// off or answered something that is not its protocol: 503.
    Unavailable,
    /// It said it is rate limited or overloaded (HTTP 429): 429.
    RateLimited,
    /// No first token within the configured time: 504.
    Timeout,
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
            LlmError::Remote { failure, .. } => match failure {
                RemoteFailure::Unavailable => ErrorCode::Unavailable,
                RemoteFailure::RateLimited => ErrorCode::ResourceExhausted,
                RemoteFailure::Timeout => ErrorCode::DeadlineExceeded,
            },
        }
    }
}

impl LlmError {
    pub(crate) fn tokenizer(err: impl std::fmt::Display) -> Self {
        LlmError::Tokenizer(err.to_string())
    }

    pub(crate) fn remote(
        backend: &'static str,
        failure: RemoteFailure,
        problem: impl Into<String>,
    ) -> Self {
        LlmError::Remote {
            backend,
            failure,
            problem: problem.into(),
        }
    }
}
