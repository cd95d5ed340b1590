//! The one error type of model fetching, classified so the CLI and services report network
//! trouble (retryable) apart from local disk problems.

use ragmesh_core::{Classify, ErrorCode};
use std::path::PathBuf;

/// Why fetching or verifying a model failed.
#[derive(Debug, thiserror::Error)]
pub enum ModelsError {
    #[error("cannot reach {url}: {source}")]
    Http {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("{url} answered HTTP {status}")]
    HttpStatus { url: String, status: u16 },
    #[error("package index page {url} is not a PEP 691 JSON answer: {reason}")]
    IndexFormat { url: String, reason: String },
    #[error("no wheel for {package}=={version} on {url}")]
    WheelNotFound {
        package: String,
        version: String,
        url: String,
    },
    #[error("{what}: sha256 mismatch (expected {expected}, got {actual})")]
    HashMismatch {
        what: String,
        expected: String,
        actual: String,
    },
    #[error("{what}: size mismatch (expected {expected} bytes, got {actual})")]
    SizeMismatch {
        what: String,
        expected: u64,
        actual: u64,
    },
    #[error("wheel {wheel}: {reason}")]
    BadWheel { wheel: String, reason: String },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("background task failed: {0}")]
    Task(String),
}

impl ModelsError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> ModelsError {
        let path = path.into();
        move |source| ModelsError::Io { path, source }
    }

    /// Failures a new attempt may cure (network trouble, bytes damaged in transit).
    pub(crate) fn is_transient(&self) -> bool {
        match self {
            ModelsError::Http { .. }
            | ModelsError::HashMismatch { .. }
            | ModelsError::SizeMismatch { .. } => true,
            ModelsError::HttpStatus { status, .. } => *status >= 500 || *status == 429,
            _ => false,
        }
    }
}

impl Classify for ModelsError {
    fn code(&self) -> ErrorCode {
        match self {
            ModelsError::Http { .. }
            | ModelsError::HttpStatus { .. }
            | ModelsError::IndexFormat { .. }
            | ModelsError::HashMismatch { .. }
            | ModelsError::SizeMismatch { .. }
            | ModelsError::BadWheel { .. } => ErrorCode::Unavailable,
            ModelsError::WheelNotFound { .. } => ErrorCode::NotFound,
            ModelsError::Io { .. } | ModelsError::Task(_) => ErrorCode::Internal,
        }
    }
}
