//! Plain text and Markdown: the bytes must be UTF-8 (a leading byte-order mark is dropped) and
//! are kept as they are, since the chunker already understands paragraphs and Markdown
//! headings read fine as text. A Markdown file's first `#` heading is its title.

use crate::ExtractError;

/// The file's text, or an error naming the first invalid byte.
pub fn utf8(file_name: &str, bytes: &[u8]) -> Result<String, ExtractError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match std::str::from_utf8(bytes) {
        Ok(text) => Ok(text.to_string()),
        Err(e) => Err(ExtractError::NotUtf8 {
            file: file_name.to_string(),
            offset: e.valid_up_to(),
        }),
    }
}

/// The text of the first ATX level-1 heading (`# Title`), outside fenced code blocks.
pub fn markdown_title(text: &str) -> Option<String> {
    let mut in_fence = false;
    for line in text.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("```") || trimmed.starts_with("~~~") {
            in_fence = !in_fence;
            continue;
        }
        if in_fence {
            continue;
        }
        if let Some(rest) = trimmed.strip_prefix("# ") {
            let title = rest.trim().trim_end_matches('#').trim();
            if !title.is_empty() {
                return Some(title.to_string());
            }
        }
    }
    None
}
