//! The one error type of text extraction. Every variant names the file, so a client that sent
//! many files in one request knows which one to fix; the kind decides the HTTP status through
//! the table in `ragmesh_core` (415 for a type that is not accepted, 422 for content that
//! cannot be read).

use crate::format::Format;
use ragmesh_core::{Classify, ErrorCode};

#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
    #[error("unsupported file type {file:?}: upload {allowed} files")]
    UnsupportedType { file: String, allowed: String },
    #[error("file {file:?} is not UTF-8 text (invalid byte at offset {offset})")]
    NotUtf8 { file: String, offset: usize },
    /// The bytes are not a readable file of the format its name says.
    #[error("file {file:?} is not a readable {format} file: {reason}")]
    Corrupt {
        file: String,
        format: Format,
        reason: String,
    },
    /// A PDF whose pages hold no text layer (e.g. scanned images): it would need OCR.
    #[error(
        "file {file:?} has no text layer: its pages hold no extractable text (a scanned PDF needs OCR first)"
    )]
    NoTextLayer { file: String },
    #[error("file {file:?} holds no text (an empty {format} file)")]
    NoText { file: String, format: Format },
}

impl ExtractError {
    /// The file the error is about.
    pub fn file(&self) -> &str {
        match self {
            ExtractError::UnsupportedType { file, .. }
            | ExtractError::NotUtf8 { file, .. }
            | ExtractError::Corrupt { file, .. }
            | ExtractError::NoTextLayer { file }
            | ExtractError::NoText { file, .. } => file,
        }
    }
}

impl Classify for ExtractError {
    fn code(&self) -> ErrorCode {
        match self {
            ExtractError::UnsupportedType { .. } => ErrorCode::UnsupportedMediaType,
            ExtractError::NotUtf8 { .. }
            | ExtractError::Corrupt { .. }
            | ExtractError::NoTextLayer { .. }
            | ExtractError::NoText { .. } => ErrorCode::UnprocessableEntity,
        }
    }
}
