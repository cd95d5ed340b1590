//! Which reader a file goes to, decided by its extension alone (case-insensitive). The list of
//! accepted extensions lives here once, so the 415 message, the gateway and the CLI's
//! "skipped" report all say the same thing.

use crate::ExtractError;

/// Every extension an upload may have, in the order messages list them.
pub const ALLOWED_EXTENSIONS: [&str; 7] = ["txt", "md", "markdown", "html", "htm", "pdf", "docx"];

/// The accepted extensions as a message shows them: `.txt, .md, ...`.
pub fn allowed_extensions() -> String {
    ALLOWED_EXTENSIONS.map(|e| format!(".{e}")).join(", ")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    Text,
    Markdown,
    Html,
    Pdf,
    Docx,
}

impl Format {
    /// The format a file name's extension stands for, or the 415 error listing the allowed ones.
    pub fn from_file_name(file_name: &str) -> Result<Format, ExtractError> {
        let base = file_name.rsplit(['/', '\\']).next().unwrap_or(file_name);
        let extension = base
            .rsplit_once('.')
            .filter(|(stem, _)| !stem.is_empty())
            .map(|(_, ext)| ext.to_ascii_lowercase());
        match extension.as_deref() {
            Some("txt") => Ok(Format::Text),
            Some("md" | "markdown") => Ok(Format::Markdown),
            Some("html" | "htm") => Ok(Format::Html),
            Some("pdf") => Ok(Format::Pdf),
            Some("docx") => Ok(Format::Docx),
            _ => Err(ExtractError::UnsupportedType {
                file: file_name.to_string(),
                allowed: allowed_extensions(),
            }),
        }
    }

    /// True when `file_name` has an accepted extension.
    pub fn is_supported(file_name: &str) -> bool {
        Format::from_file_name(file_name).is_ok()
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Format::Text => "text",
            Format::Markdown => "Markdown",
            Format::Html => "HTML",
            Format::Pdf => "PDF",
            Format::Docx => "docx",
        }
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
