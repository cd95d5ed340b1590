//! HTML: the text a browser would show, with headings, paragraphs and list items on their own
//! lines. Script, style, noscript and template contents and comments are dropped; character
//! references (`&amp;`, `&eacute;`, `&#8212;`) are decoded with quick-xml's HTML5 table. This
//! is a tolerant scanner, not a full HTML5 parser: unclosed tags and stray `<` or `&` are kept
//! as text rather than rejected, as browsers do.

use crate::text_builder::TextBuilder;
use std::borrow::Cow;

/// Elements whose content is never shown as text.
const HIDDEN: [&str; 4] = ["script", "style", "noscript", "template"];
/// Elements that start and end a paragraph of their own.
const PARAGRAPH_BLOCKS: [&str; 31] = [
    "p",
    "div",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "section",
    "article",
    "header",
    "footer",
    "nav",
    "aside",
    "main",
    "blockquote",
    "pre",
    "table",
    "ul",
    "ol",
    "dl",
    "figure",
    "figcaption",
    "form",
    "fieldset",
    "address",
    "details",
    "summary",
    "hr",
    "body",
    "caption",
];
/// Elements that end a line.
const LINE_BLOCKS: [&str; 6] = ["br", "li", "tr", "dt", "dd", "option"];
/// Elements that separate words (table cells).
const WORD_BREAKS: [&str; 2] = ["td", "th"];

/// The visible text and the `<title>` of a page.
pub fn extract(html: &str) -> (String, Option<String>) {
    // ASCII lowercasing keeps byte offsets, so positions found in `lower` index `html`.
    let lower = html.to_ascii_lowercase();
    let mut body = TextBuilder::new();
    let mut in_title: Option<TextBuilder> = None;
    let mut page_title: Option<String> = None;
    // Inside <pre>, line ends are kept (code stays one statement per line).
    let mut pre_depth = 0usize;
    let mut pos = 0;
    while pos < html.len() {
        let Some(lt) = html[pos..].find('<').map(|i| pos + i) else {
            emit(&html[pos..], &mut body, in_title.as_mut(), pre_depth > 0);
            break;
        };
        emit(&html[pos..lt], &mut body, in_title.as_mut(), pre_depth > 0);
        let rest = &lower[lt..];
        if rest.starts_with("<!--") {
            pos = find_from(&lower, lt + 4, "-->").map_or(html.len(), |i| i + 3);
        } else if rest.starts_with("<!") || rest.starts_with("<?") {
            pos = find_from(&lower, lt, ">").map_or(html.len(), |i| i + 1);
        } else if let Some(tag) = parse_tag(&lower, lt) {
            pos = tag.end;
            if tag.closing && tag.name == "title" {
                if let Some(title) = in_title.take().map(TextBuilder::finish)
                    && !title.is_empty()
                    && page_title.is_none()
                {
                    page_title = Some(title);
                }
            } else if tag.closing {
                if tag.name == "pre" {
                    pre_depth = pre_depth.saturating_sub(1);
                }
                block_edge(&tag.name, &mut body);
            } else if HIDDEN.contains(&tag.name.as_str()) {
                let close = format!("</{}", tag.name);
                pos = find_from(&lower, pos, &close)
                    .and_then(|i| find_from(&lower, i, ">"))
                    .map_or(html.len(), |i| i + 1);
            } else if tag.name == "title" {
                in_title = Some(TextBuilder::new());
            } else {
                if tag.name == "pre" {
                    pre_depth += 1;
                }
                block_edge(&tag.name, &mut body);
            }
        } else {
            emit("<", &mut body, in_title.as_mut(), pre_depth > 0);
            pos = lt + 1;
        }
    }
    (body.finish(), page_title)
}

/// Text between tags goes to the title while inside `<title>`, else to the body; in
/// preformatted text each line end is kept.
fn emit(raw: &str, body: &mut TextBuilder, title: Option<&mut TextBuilder>, preformatted: bool) {
    if raw.is_empty() {
        return;
    }
    let text = decode_references(raw);
    match title {
        Some(title) => title.push_text(&text),
        None if preformatted => {
            for (i, line) in text.split('\n').enumerate() {
                if i > 0 {
                    body.line_break();
                }
                body.push_text(line);
            }
        }
        None => body.push_text(&text),
    }
}

/// The separation an element's start or end puts into the text.
fn block_edge(name: &str, body: &mut TextBuilder) {
    if PARAGRAPH_BLOCKS.contains(&name) {
        body.paragraph_break();
    } else if LINE_BLOCKS.contains(&name) {
        body.line_break();
    } else if WORD_BREAKS.contains(&name) {
        body.space();
    }
}

#[derive(Debug)]
struct Tag {
    /// Lowercase element name.
    name: String,
    closing: bool,
    /// Byte offset just past the tag's `>`.
    end: usize,
}

/// Parses the tag starting at `lt` (`<name ...>` or `</name>`), skipping quoted attribute
/// values so a `>` inside one does not end the tag. None when `<` does not start a tag.
fn parse_tag(lower: &str, lt: usize) -> Option<Tag> {
    let bytes = lower.as_bytes();
    let mut i = lt + 1;
    let closing = bytes.get(i) == Some(&b'/');
    if closing {
        i += 1;
    }
    let name_start = i;
    while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || matches!(bytes[i], b'-' | b':')) {
        i += 1;
    }
    if i == name_start || !bytes[name_start].is_ascii_alphabetic() {
        return None;
    }
    let name = lower[name_start..i].to_string();
    let mut quote = None;
    while i < bytes.len() {
        match (quote, bytes[i]) {
            (None, b'>') => {
                return Some(Tag {
                    name,
                    closing,
                    end: i + 1,
                });
            }
            (None, q @ (b'"' | b'\'')) => quote = Some(q),
            (Some(q), c) if c == q => quote = None,
            _ => {}
        }
        i += 1;
    }
    // An unterminated tag runs to the end of the document, as in a browser.
    Some(Tag {
        name,
        closing,
        end: bytes.len(),
    })
}

fn find_from(haystack: &str, from: usize, needle: &str) -> Option<usize> {
    haystack.get(from..)?.find(needle).map(|i| from + i)
}

/// Decodes named and numeric character references; anything that is not one stays as written.
fn decode_references(raw: &str) -> Cow<'_, str> {
    if !raw.contains('&') {
        return Cow::Borrowed(raw);
    }
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp + 1..];
        let decoded = after
            .find(';')
            .filter(|&semi| semi > 0 && semi <= 32)
            .and_then(|semi| reference(&after[..semi]).map(|text| (text, semi)));
        match decoded {
            Some((text, semi)) => {
                out.push_str(&text);
                rest = &after[semi + 1..];
            }
            None => {
                out.push('&');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// The text of one reference body (`amp`, `#233`, `#x2014`).
fn reference(body: &str) -> Option<String> {
    if let Some(number) = body.strip_prefix('#') {
        let code = match number.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok()?,
            None => number.parse().ok()?,
        };
        return char::from_u32(code).map(String::from);
    }
    quick_xml::escape::resolve_html5_entity(body).map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_decode_and_stray_ampersands_stay() {
        assert_eq!(
            decode_references("Fish &amp; chips &eacute;t&#233; &#x2014; R&D &bogus; a & b"),
            "Fish & chips été — R&D &bogus; a & b"
        );
    }

    #[test]
    fn a_greater_than_inside_a_quoted_attribute_does_not_end_the_tag() {
        let (text, _) = extract(r#"<p title="a > b">shown</p><p data-x='>'>too</p>"#);
        assert_eq!(text, "shown\n\ntoo");
    }

    #[test]
    fn preformatted_text_keeps_its_lines() {
        let (text, _) = extract(
            "<p>Run:</p><pre>cargo build\n  cargo test &amp;&amp; echo ok\n</pre><p>done</p>",
        );
        assert_eq!(text, "Run:\n\ncargo build\ncargo test && echo ok\n\ndone");
    }

    #[test]
    fn unclosed_hidden_elements_hide_the_rest_and_stray_angles_are_text() {
        let (text, _) = extract("<p>1 < 2 and 3 > 2</p><script>var x = '<p>';");
        assert_eq!(text, "1 < 2 and 3 > 2");
    }
}
