//! PDF: the text layer, page by page in page order. Each page's content stream is walked for
//! text-showing operators, decoded with the font's encoding; moves to a new line (`T*`, `'`,
//! `"`, a `Td`/`TD` with a vertical offset, a new text matrix, the end of a text object)
//! become line breaks, and wide negative kerning inside `TJ` becomes a space. Pages are
//! separated by a blank line. A PDF whose pages yield no text at all (a scan) is an error that
//! says so rather than an empty document.
//!
//! Every stream is decompressed by [`streams`] within the file's bound on inflated bytes
//! before lopdf can touch it, and the text is kept within the bound on text.

mod streams;

use crate::ExtractError;
use crate::format::Format;
use crate::limits::{Inflated, Limits};
use crate::text_builder::TextBuilder;
use lopdf::{Document, Encoding, Object, ObjectId};
use std::collections::BTreeMap;

/// A `TJ` adjustment (thousandths of a text unit) this far left is a word gap.
const WORD_GAP: f32 = -200.0;

/// The text of a PDF, and how many bytes its streams inflated to.
pub fn extract(
    file_name: &str,
    bytes: &[u8],
    limits: &Limits,
) -> Result<(String, u64), ExtractError> {
    let corrupt = |reason: String| ExtractError::Corrupt {
        file: file_name.to_string(),
        format: Format::Pdf,
        reason,
    };
    let (document, meter) =
        streams::load(bytes, Inflated::new(limits.inflated)).map_err(|e| match e {
            streams::LoadError::OverBound(bound) => ExtractError::TooMuchInflated {
                file: file_name.to_string(),
                format: Format::Pdf,
                bound,
            },
            streams::LoadError::Pdf(e) => corrupt(e.to_string()),
        })?;
    let pages = document.get_pages();
    if pages.is_empty() {
        return Err(corrupt("it has no pages".into()));
    }
    let mut text =
        TextBuilder::with_limit(usize::try_from(limits.text.bytes).unwrap_or(usize::MAX));
    for (number, page_id) in pages {
        page_text(&document, page_id, &mut text)
            .map_err(|e| corrupt(format!("page {number}: {e}")))?;
        if text.overflowed() {
            return Err(ExtractError::TooMuchText {
                file: file_name.to_string(),
                bound: limits.text,
            });
        }
        text.paragraph_break();
    }
    let text = text.finish();
    if text.trim().is_empty() {
        return Err(ExtractError::NoTextLayer {
            file: file_name.to_string(),
        });
    }
    Ok((text, meter.used()))
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
