//! Turns an uploaded file (its name and bytes) into the plain text that ingestion chunks and
//! indexes. It exists so that every way documents arrive (the gateway's multipart upload, and
//! through it `ragmesh ingest`) shares one implementation and one set of error messages.
//!
//! The format is chosen by the file name's extension (case-insensitive), never guessed from
//! the content: a client learns from the 415 which names are accepted. Each format's reader
//! keeps the text a reader of the document sees, one block (paragraph, heading, list item)
//! per line, and drops what is not content (scripts, styles, markup).

mod docx;
mod error;
mod format;
mod html;
mod pdf;
mod plain_text;
mod text_builder;

pub use error::ExtractError;
pub use format::{ALLOWED_EXTENSIONS, Format, allowed_extensions};

/// The text of one file, ready to ingest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extracted {
    pub format: Format,
    pub text: String,
    /// The document's own title when it has one (HTML `<title>`, the first Markdown `#`
    /// heading, the first docx title or heading paragraph).
    pub title: Option<String>,
}

/// Extracts the text of `file_name` from `bytes`. Fails with
/// [`ExtractError::UnsupportedType`] for an extension not in [`ALLOWED_EXTENSIONS`], and with
/// an error naming the file when its content cannot be read or holds no text.
pub fn extract(file_name: &str, bytes: &[u8]) -> Result<Extracted, ExtractError> {
    let format = Format::from_file_name(file_name)?;
    let (text, title) = match format {
        Format::Text => (plain_text::utf8(file_name, bytes)?, None),
        Format::Markdown => {
            let text = plain_text::utf8(file_name, bytes)?;
            let title = plain_text::markdown_title(&text);
            (text, title)
        }
        Format::Html => html::extract(&plain_text::utf8(file_name, bytes)?),
        Format::Pdf => (pdf::extract(file_name, bytes)?, None),
        Format::Docx => docx::extract(file_name, bytes)?,
    };
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
    })
}

#[cfg(test)]
mod tests;
