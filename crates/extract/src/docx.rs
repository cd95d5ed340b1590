//! Word `.docx`: a zip archive whose `word/document.xml` holds the body. Each paragraph
//! (`w:p`) becomes a line of its own, headings included; runs' text (`w:t`) is joined, tabs
//! (`w:tab`) stay tabs and breaks (`w:br`, `w:cr`) end a line. The first paragraph styled as a
//! title or heading is the document's title. Deleted revisions (`w:del`) are not text.
//!
//! The body is parsed as it inflates, through a reader capped at the file's bound on inflated
//! bytes, and the text is kept within the bound on text: memory follows the text kept, not
//! the size the archive claims.

use crate::ExtractError;
use crate::format::Format;
use crate::limits::{Bound, Limits};
use crate::text_builder::TextBuilder;
use quick_xml::events::{BytesStart, Event};
use std::io::{BufReader, Cursor, Read};

/// The part of a docx archive that holds the document body.
const BODY_PART: &str = "word/document.xml";

/// The text and title of a docx file, and the bytes its body inflated to.
pub fn extract(
    file_name: &str,
    bytes: &[u8],
    limits: &Limits,
) -> Result<(String, Option<String>, u64), ExtractError> {
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
    let mut body = Capped {
        inner: part,
        room: limits.inflated.bytes,
        read: 0,
        over: false,
    };
    let text_limit = usize::try_from(limits.text.bytes).unwrap_or(usize::MAX);
    let outcome = body_text(BufReader::new(&mut body), text_limit);
    if body.over {
        return Err(ExtractError::TooMuchInflated {
            file: file_name.to_string(),
            format: Format::Docx,
            bound: limits.inflated,
        });
    }
    match outcome {
        Ok(Some((text, title))) => Ok((text, title, body.read)),
        Ok(None) => Err(too_much_text(file_name, limits.text)),
        Err(e) => Err(corrupt(format!("{BODY_PART} is not well-formed XML ({e})"))),
    }
}

fn too_much_text(file_name: &str, bound: Bound) -> ExtractError {
    ExtractError::TooMuchText {
        file: file_name.to_string(),
        bound,
    }
}

/// A reader that fails once more than `room` bytes come out of `inner`.
struct Capped<R> {
    inner: R,
    room: u64,
    read: u64,
    over: bool,
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        if self.read > self.room {
            self.over = true;
            return Err(std::io::Error::other(
                "past the bound on decompressed bytes",
            ));
        }
        Ok(n)
    }
}

/// Walks the body XML. Only elements' local names are looked at, so any namespace prefix
/// works. `None` when the text passes `text_limit` (reading stops there).
fn body_text(
    xml: impl std::io::BufRead,
    text_limit: usize,
) -> Result<Option<(String, Option<String>)>, quick_xml::Error> {
    let mut reader = quick_xml::Reader::from_reader(xml);
    let mut buf = Vec::new();
    let mut text = TextBuilder::with_limit(text_limit);
    let mut paragraph = Paragraph::default();
    let mut title = None;
    let mut in_text = false;
    // Tabs and breaks count inside runs only (`w:tabs` in paragraph properties defines stops).
    let mut in_run = false;
    let mut deleted_depth = 0usize;
    loop {
        if text.overflowed() {
            return Ok(None);
        }
        buf.clear();
        match reader.read_event_into(&mut buf)? {
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
                    paragraph = Paragraph::default();
                    text.paragraph_break();
                }
                _ => {}
            },
            Event::Text(t) if in_text && deleted_depth == 0 => {
                let content = t.xml10_content();
                paragraph.push(&content, title.is_none());
                text.push_text(&content);
            }
            Event::GeneralRef(r) if in_text && deleted_depth == 0 => {
                let resolved = match r.resolve_char_ref()? {
                    Some(c) => Some(c.to_string()),
                    None => quick_xml::escape::resolve_xml_entity(&r).map(str::to_string),
                };
                if let Some(resolved) = resolved {
                    paragraph.push(&resolved, title.is_none());
                    text.push_text(&resolved);
                }
            }
            Event::CData(c) if in_text && deleted_depth == 0 => {
                let content = c.xml10_content();
                paragraph.push(&content, title.is_none());
                text.push_text(&content);
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if text.overflowed() {
        return Ok(None);
    }
    Ok(Some((text.finish(), title)))
}

/// What is known about the paragraph being read. Its text is kept only while it may still
/// become the title (a heading before any title was found), so a huge body paragraph is not
/// held twice.
#[derive(Debug, Default)]
struct Paragraph {
    heading: bool,
    text: String,
}

impl Paragraph {
    fn push(&mut self, s: &str, no_title_yet: bool) {
        if self.heading && no_title_yet {
            self.text.push_str(s);
        }
    }
}

/// Tabs, breaks (inside a live run) and paragraph styles, from start or empty elements.
fn element(e: &BytesStart<'_>, text: &mut TextBuilder, paragraph: &mut Paragraph, in_run: bool) {
    match e.local_name().as_ref() {
        "tab" if in_run && !text.is_empty() => {
            text.push_tab();
            paragraph.push("\t", true);
        }
        "br" | "cr" if in_run => {
            text.line_break();
            paragraph.push(" ", true);
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
