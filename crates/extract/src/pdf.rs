//! PDF: the text layer, page by page in page order. Each page's content stream is walked for
//! text-showing operators, decoded with the font's encoding; moves to a new line (`T*`, `'`,
//! `"`, a `Td`/`TD` with a vertical offset, a new text matrix, the end of a text object)
//! become line breaks, and wide negative kerning inside `TJ` becomes a space. Pages are
//! separated by a blank line. A PDF whose pages yield no text at all (a scan) is an error that
//! says so rather than an empty document.

use crate::ExtractError;
use crate::format::Format;
use crate::text_builder::TextBuilder;
use lopdf::{Document, Encoding, Object, ObjectId};
use std::collections::BTreeMap;

/// A `TJ` adjustment (thousandths of a text unit) this far left is a word gap.
const WORD_GAP: f32 = -200.0;

pub fn extract(file_name: &str, bytes: &[u8]) -> Result<String, ExtractError> {
    let corrupt = |reason: String| ExtractError::Corrupt {
        file: file_name.to_string(),
        format: Format::Pdf,
        reason,
    };
    let document = Document::load_mem(bytes).map_err(|e| corrupt(e.to_string()))?;
    let pages = document.get_pages();
    if pages.is_empty() {
        return Err(corrupt("it has no pages".into()));
    }
    let mut text = TextBuilder::new();
    for (number, page_id) in pages {
        page_text(&document, page_id, &mut text)
            .map_err(|e| corrupt(format!("page {number}: {e}")))?;
        text.paragraph_break();
    }
    let text = text.finish();
    if text.trim().is_empty() {
        return Err(ExtractError::NoTextLayer {
            file: file_name.to_string(),
        });
    }
    Ok(text)
}

fn page_text(
    document: &Document,
    page_id: ObjectId,
    text: &mut TextBuilder,
) -> Result<(), lopdf::Error> {
    // A font whose encoding cannot be worked out only loses its own text.
    let encodings: BTreeMap<Vec<u8>, Encoding<'_>> = document
        .get_page_fonts(page_id)?
        .into_iter()
        .filter_map(|(name, font)| font.get_font_encoding(document).ok().map(|e| (name, e)))
        .collect();
    let content = document.get_and_decode_page_content(page_id)?;
    let mut encoding = None;
    for operation in &content.operations {
        let operands = &operation.operands;
        match operation.operator.as_str() {
            "Tf" => {
                encoding = operands
                    .first()
                    .and_then(|name| name.as_name().ok())
                    .and_then(|name| encodings.get(name));
            }
            "Tj" | "TJ" => show(operands, encoding, text),
            "'" => {
                text.line_break();
                show(operands, encoding, text);
            }
            "\"" => {
                text.line_break();
                show(operands.get(2..).unwrap_or_default(), encoding, text);
            }
            "T*" | "Tm" | "ET" => text.line_break(),
            "Td" | "TD" => {
                let dy = operands
                    .get(1)
                    .and_then(|o| o.as_float().ok())
                    .unwrap_or(0.0);
                if dy == 0.0 {
                    text.space();
                } else {
                    text.line_break();
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Adds the strings of a text-showing operator; without a known encoding the text is skipped.
fn show(operands: &[Object], encoding: Option<&Encoding<'_>>, text: &mut TextBuilder) {
    let Some(encoding) = encoding else {
        return;
    };
    for operand in operands {
        match operand {
            Object::String(bytes, _) => {
                if let Ok(decoded) = Document::decode_text(encoding, bytes) {
                    text.push_text(&decoded);
                }
            }
            Object::Array(items) => show(items, Some(encoding), text),
            Object::Integer(_) | Object::Real(_)
                if operand.as_float().is_ok_and(|gap| gap <= WORD_GAP) =>
            {
                text.space();
            }
            _ => {}
        }
    }
}
