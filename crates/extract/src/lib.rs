//! Turns an uploaded file (its name and bytes) into the plain text that ingestion chunks and
//! indexes. It exists so that every way documents arrive (the gateway's multipart upload, and
//! through it `ragmesh ingest`) shares one implementation and one set of error messages.
//!
//! The format is chosen by the file name's extension (case-insensitive), never guessed from
//! the content: a client learns from the 415 which names are accepted. Each format's reader
//! keeps the text a reader of the document sees, one block (paragraph, heading, list item)
//! per line, and drops what is not content (scripts, styles, markup).
//!
//! Every extraction runs within [`Limits`]: a bound on the bytes decompression produces and
//! on the text kept, each a 413 naming the file and the limit when passed (see [`limits`]).

mod docx;
mod error;
mod format;
mod html;
pub mod limits;
mod pdf;
mod plain_text;
mod text_builder;

pub use error::ExtractError;
pub use format::{ALLOWED_EXTENSIONS, Format, allowed_extensions};
pub use limits::{Bound, Limits, Scope};

/// The text of one file, ready to ingest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extracted {
    pub format: Format,
    pub text: String,
    /// The document's own title when it has one (HTML `<title>`, the first Markdown `#`
    /// heading, the first docx title or heading paragraph).
    pub title: Option<String>,
    /// Bytes decompression produced on the way (PDF streams, the docx body), which counts
    /// against [`Limits::inflated`].
    pub inflated_bytes: u64,
}

/// Extracts the text of `file_name` from `bytes` within the default [`Limits`].
pub fn extract(file_name: &str, bytes: &[u8]) -> Result<Extracted, ExtractError> {
    extract_within(file_name, bytes, &Limits::default())
}

/// Extracts the text of `file_name` from `bytes`. Fails with
/// [`ExtractError::UnsupportedType`] for an extension not in [`ALLOWED_EXTENSIONS`], with
/// [`ExtractError::TooMuchInflated`] or [`ExtractError::TooMuchText`] past `limits`, and with
/// an error naming the file when its content cannot be read or holds no text.
pub fn extract_within(
    file_name: &str,
    bytes: &[u8],
    limits: &Limits,
) -> Result<Extracted, ExtractError> {
    let format = Format::from_file_name(file_name)?;
    let too_much_text = || ExtractError::TooMuchText {
        file: file_name.to_string(),
        bound: limits.text,
    };
    if matches!(format, Format::Text | Format::Markdown) && bytes.len() as u64 > limits.text.bytes {
        return Err(too_much_text());
    }
    let mut inflated_bytes = 0;
    let (text, title) = match format {
        Format::Text => (plain_text::utf8(file_name, bytes)?, None),
        Format::Markdown => {
            let text = plain_text::utf8(file_name, bytes)?;
            let title = plain_text::markdown_title(&text);
            (text, title)
        }
        Format::Html => html::extract(&plain_text::utf8(file_name, bytes)?),
        Format::Pdf => {
            let (text, inflated) = pdf::extract(file_name, bytes, limits)?;
            inflated_bytes = inflated;
            (text, None)
        }
        Format::Docx => {
            let (text, title, inflated) = docx::extract(file_name, bytes, limits)?;
            inflated_bytes = inflated;
            (text, title)
        }
    };
    if text.len() as u64 > limits.text.bytes {
        return Err(too_much_text());
    }
    if text.trim().is_empty() {
        return Err(ExtractError::NoText {
            file: file_name.to_string(),
            format,
        });
    }
    Ok(Extracted {
        format,
        text,
        title,
        inflated_bytes,
    })
}

#[cfg(test)]
mod tests;
