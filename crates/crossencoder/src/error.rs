//! The crate's one error type, classified for the shared status table: a model that cannot
//! be loaded makes the reranker unavailable; a failure while scoring is internal.

use ragmesh_core::{Classify, ErrorCode};
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum CrossEncoderError {
    #[error("cross-encoder directory {dir}: {file} is missing")]
    MissingFile { dir: PathBuf, file: &'static str },
    #[error(
        "cross-encoder directory {0}: model.safetensors is required (pytorch_model.bin is not \
         read; convert it, e.g. with transformers `save_pretrained(safe_serialization=True)`)"
    )]
    SafetensorsRequired(PathBuf),
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid {path}: {message}")]
    InvalidConfig { path: PathBuf, message: String },
    #[error("tokenizer {path}: {message}")]
    Tokenizer { path: PathBuf, message: String },
    #[error("weights {path}: {message}")]
    Weights { path: PathBuf, message: String },
    #[error("max_length {0} is too small: a pair needs at least 4 tokens")]
    MaxLengthTooSmall(usize),
    #[error("tokenizing pairs: {0}")]
    Encode(String),
    #[error("cross-encoder inference: {0}")]
    Inference(#[from] candle_core::Error),
}

impl Classify for CrossEncoderError {
    fn code(&self) -> ErrorCode {
        match self {
            CrossEncoderError::MissingFile { .. }
            | CrossEncoderError::SafetensorsRequired(_)
            | CrossEncoderError::Io { .. }
            | CrossEncoderError::InvalidConfig { .. }
            | CrossEncoderError::Tokenizer { .. }
            | CrossEncoderError::Weights { .. }
            | CrossEncoderError::MaxLengthTooSmall(_) => ErrorCode::Unavailable,
            CrossEncoderError::Encode(_) | CrossEncoderError::Inference(_) => ErrorCode::Internal,
        }
    }
}
