//! Loading the model's tokenizer twice over: once configured as sentence-transformers uses it
//! (truncate at the model's limit, pad to the longest text of the batch — the packaged
//! tokenizer.json says "pad everything to 128", which would change nothing in the vectors but
//! waste compute on short texts and cut long ones too early), and once bare, to report the word
//! pieces of a whole text for the chunker.

use crate::EmbedError;
use std::path::Path;
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

/// The tokenizer for embedding: truncation at `max_tokens`, BatchLongest padding.
pub(crate) fn embedding_tokenizer(path: &Path, max_tokens: usize) -> Result<Tokenizer, EmbedError> {
    let mut tokenizer = bare_tokenizer(path)?;
    let padding = PaddingParams {
        strategy: PaddingStrategy::BatchLongest,
        ..tokenizer.get_padding().cloned().unwrap_or_default()
    };
    tokenizer.with_padding(Some(padding));
    tokenizer
        .with_truncation(Some(TruncationParams {
            max_length: max_tokens,
            ..Default::default()
        }))
        .map_err(|e| EmbedError::Tokenizer(e.to_string()))?;
    Ok(tokenizer)
}

/// The tokenizer without padding or truncation.
pub(crate) fn bare_tokenizer(path: &Path) -> Result<Tokenizer, EmbedError> {
    let mut tokenizer = Tokenizer::from_file(path).map_err(|e| EmbedError::ModelFile {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    tokenizer.with_padding(None);
    tokenizer
        .with_truncation(None)
        .map_err(|e| EmbedError::Tokenizer(e.to_string()))?;
    Ok(tokenizer)
}
