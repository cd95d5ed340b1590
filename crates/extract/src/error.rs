//! The one error type of text extraction. Every variant names the file, so a client that sent
//! many files in one request knows which one to fix; the kind decides the HTTP status through
//! the table in `ragmesh_core` (415 for a type that is not accepted, 413 for a file past an
//! extraction bound, 422 for content that cannot be read).

use crate::format::Format;
use crate::limits::{Bound, Scope};
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
    /// Decompressing the file (a PDF stream, a docx body) went past the bound: a decompression
    /// bomb, or a document too large to take in one upload.
    #[error(
        "file {file:?} ({format}) decompresses to more than {}: refused before extracting its text",
        describe(.bound, "decompressed bytes", "max_inflated_bytes")
    )]
    TooMuchInflated {
        file: String,
        format: Format,
        bound: Bound,
    },
    /// The file holds more text than one upload may carry.
    #[error(
        "file {file:?} holds more than {}: split it into smaller files",
        describe(.bound, "bytes of text", "max_text_bytes")
    )]
    TooMuchText { file: String, bound: Bound },
}

/// `1048576 decompressed bytes, the limit per file ([gateway.extract] max_inflated_bytes_per_file)`.
fn describe(bound: &Bound, unit: &str, key: &str) -> String {
    match bound.scope {
        Scope::File => format!(
            "{} {unit}, the limit per file ([gateway.extract] {key}_per_file)",
            bound.bytes
        ),
        Scope::Request(total) => format!(
            "the {} {unit} left of the {total} allowed per request ([gateway.extract] {key}_per_request)",
            bound.bytes
        ),
    }
}

impl ExtractError {
    /// The file the error is about.
    pub fn file(&self) -> &str {
        match self {
            ExtractError::UnsupportedType { file, .. }
            | ExtractError::NotUtf8 { file, .. }
            | ExtractError::Corrupt { file, .. }
            | ExtractError::NoTextLayer { file }
            | ExtractError::NoText { file, .. }
            | ExtractError::TooMuchInflated { file, .. }
            | ExtractError::TooMuchText { file, .. } => file,
        }
    }
}

impl Classify for ExtractError {
    fn code(&self) -> ErrorCode {
        match self {
            ExtractError::UnsupportedType { .. } => ErrorCode::UnsupportedMediaType,
            ExtractError::TooMuchInflated { .. } | ExtractError::TooMuchText { .. } => {
                ErrorCode::PayloadTooLarge
            }
            ExtractError::NotUtf8 { .. }
            | ExtractError::Corrupt { .. }
            | ExtractError::NoTextLayer { .. }
            | ExtractError::NoText { .. } => ErrorCode::UnprocessableEntity,
        }
    }
}
