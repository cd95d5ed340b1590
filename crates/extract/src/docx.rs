//! Word `.docx`: a zip archive whose `word/document.xml` holds the body. Each paragraph
//! (`w:p`) becomes a line of its own, headings included; runs' text (`w:t`) is joined, tabs
//! (`w:tab`) stay tabs and breaks (`w:br`, `w:cr`) end a line. The first paragraph styled as a
//! title or heading is the document's title. Deleted revisions (`w:del`) are not text.

use crate::ExtractError;
use crate::format::Format;
use crate::text_builder::TextBuilder;
use quick_xml::events::{BytesStart, Event};
use std::io::{Cursor, Read};

/// The part of a docx archive that holds the document body.
const BODY_PART: &str = "word/document.xml";
/// Upper bound on the uncompressed body, so a small zip cannot expand without limit.
const MAX_BODY_BYTES: u64 = 256 * 1024 * 1024;

/// The text and title of a docx file.
pub fn extract(file_name: &str, bytes: &[u8]) -> Result<(String, Option<String>), ExtractError> {
    let corrupt = |reason: String| ExtractError::Corrupt {
        file: file_name.to_string(),
        format: Format::Docx,
        reason,
    };
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes))
        .map_err(|e| corrupt(format!("not a zip archive ({e})")))?;
    let part = archive
        .by_name(BODY_PART)
        .map_err(|e| corrupt(format!("cannot open {BODY_PART} ({e})")))?;
    let mut xml = String::new();
    part.take(MAX_BODY_BYTES + 1)
        .read_to_string(&mut xml)
        .map_err(|e| corrupt(format!("cannot read {BODY_PART} ({e})")))?;
    if xml.len() as u64 > MAX_BODY_BYTES {
        return Err(corrupt(format!(
            "{BODY_PART} is larger than {MAX_BODY_BYTES} bytes"
        )));
    }
    body_text(&xml).map_err(|e| corrupt(format!("{BODY_PART} is not well-formed XML ({e})")))
}

/// Walks the body XML. Only elements' local names are looked at, so any namespace prefix works.
fn body_text(xml: &str) -> Result<(String, Option<String>), quick_xml::Error> {
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut text = TextBuilder::new();
    let mut paragraph = Paragraph::default();
    let mut title = None;
    let mut in_text = false;
    // Tabs and breaks count inside runs only (`w:tabs` in paragraph properties defines stops).
    let mut in_run = false;
    let mut deleted_depth = 0usize;
    loop {
        match reader.read_event()? {
            Event::Start(e) => {
                match e.local_name().as_ref() {
                    "t" => in_text = true,
                    "r" => in_run = true,
                    "del" => deleted_depth += 1,
                    "p" => paragraph = Paragraph::default(),
                    _ => {}
                }
                element(&e, &mut text, &mut paragraph, in_run && deleted_depth == 0);
            }
            Event::Empty(e) => element(&e, &mut text, &mut paragraph, in_run && deleted_depth == 0),
            Event::End(e) => match e.local_name().as_ref() {
                "t" => in_text = false,
                "r" => in_run = false,
                "del" => deleted_depth = deleted_depth.saturating_sub(1),
                "p" => {
                    if paragraph.heading && title.is_none() && !paragraph.text.trim().is_empty() {
                        title = Some(paragraph.text.trim().to_string());
                    }
                    text.paragraph_break();
                }
                _ => {}
            },
            Event::Text(t) if in_text && deleted_depth == 0 => {
                let content = t.xml10_content();
                paragraph.text.push_str(&content);
                text.push_text(&content);
            }
            Event::GeneralRef(r) if in_text && deleted_depth == 0 => {
                let resolved = match r.resolve_char_ref()? {
                    Some(c) => Some(c.to_string()),
                    None => quick_xml::escape::resolve_xml_entity(&r).map(str::to_string),
                };
                if let Some(resolved) = resolved {
                    paragraph.text.push_str(&resolved);
                    text.push_text(&resolved);
                }
            }
            Event::CData(c) if in_text && deleted_depth == 0 => {
                let content = c.xml10_content();
                paragraph.text.push_str(&content);
                text.push_text(&content);
            }
            Event::Eof => break,
            _ => {}
        }
    }
    Ok((text.finish(), title))
}

/// What is known about the paragraph being read.
#[derive(Debug, Default)]
struct Paragraph {
    heading: bool,
    text: String,
}

/// Tabs, breaks (inside a live run) and paragraph styles, from start or empty elements.
fn element(e: &BytesStart<'_>, text: &mut TextBuilder, paragraph: &mut Paragraph, in_run: bool) {
    match e.local_name().as_ref() {
        "tab" if in_run && !text.is_empty() => {
            text.push_tab();
            paragraph.text.push('\t');
        }
        "br" | "cr" if in_run => {
            text.line_break();
            paragraph.text.push(' ');
        }
        "pStyle" => {
            let style = e
                .attributes()
                .flatten()
                .find(|a| a.key.local_name().as_ref() == "val")
                .and_then(|a| a.normalized_value(quick_xml::XmlVersion::Implicit1_0).ok())
                .map(|v| v.to_ascii_lowercase())
                .unwrap_or_default();
            paragraph.heading = style == "title" || style.starts_with("heading");
        }
        _ => {}
    }
}
