//! Real `.docx` and `.pdf` files made in memory for tests of text extraction and uploads: a
//! docx is a zip with `word/document.xml` (written with the zip writer), a PDF is built with
//! lopdf's writer with a Helvetica text stream per page. Tests make their fixtures with these
//! instead of checking in binary files, so what a fixture holds is visible in the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use lopdf::content::{Content, Operation};
use lopdf::{Document, Object, Stream, dictionary};
use std::io::Write;

/// One docx paragraph: its style id (`""` for none, `"Heading1"`, `"Title"`) and its runs;
/// in a run's text `\t` becomes `w:tab` and `\n` becomes `w:br`.
#[derive(Debug, Clone, Copy)]
pub struct DocxParagraph<'a> {
    pub style: &'a str,
    pub runs: &'a [&'a str],
}

/// A docx file whose body holds `paragraphs`.
pub fn docx(paragraphs: &[DocxParagraph<'_>]) -> Vec<u8> {
    let mut body = String::new();
    for p in paragraphs {
        body.push_str("<w:p>");
        if !p.style.is_empty() {
            body.push_str(&format!(
                r#"<w:pPr><w:pStyle w:val="{}"/><w:tabs><w:tab w:val="left" w:pos="720"/></w:tabs></w:pPr>"#,
                p.style
            ));
        }
        for run in p.runs {
            body.push_str("<w:r><w:rPr><w:b/></w:rPr>");
            for (i, line) in run.split('\n').enumerate() {
                if i > 0 {
                    body.push_str("<w:br/>");
                }
                for (j, cell) in line.split('\t').enumerate() {
                    if j > 0 {
                        body.push_str("<w:tab/>");
                    }
                    body.push_str(&format!(
                        r#"<w:t xml:space="preserve">{}</w:t>"#,
                        xml_escape(cell)
                    ));
                }
            }
            body.push_str("</w:r>");
        }
        body.push_str("</w:p>");
    }
    let document = format!(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>{body}<w:sectPr/></w:body></w:document>"#
    );
    docx_with_part("word/document.xml", &document)
}

/// A zip holding one part: a docx when `name` is `word/document.xml`, else a broken one.
pub fn docx_with_part(name: &str, content: &str) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    zip.start_file("[Content_Types].xml", options).unwrap();
    zip.write_all(br#"<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>"#)
        .unwrap();
    zip.start_file(name, options).unwrap();
    zip.write_all(content.as_bytes()).unwrap();
    zip.finish().unwrap().into_inner()
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A PDF with one page per entry; each page shows its lines top to bottom in Helvetica,
/// one `Tj` per line moved down with `Td`. A page with no lines has only a drawn rectangle.
pub fn pdf(pages: &[&[&str]]) -> Vec<u8> {
    let mut doc = Document::with_version("1.5");
    let pages_id = doc.new_object_id();
    let font_id = doc.add_object(dictionary! {
        "Type" => "Font",
        "Subtype" => "Type1",
        "BaseFont" => "Helvetica",
        "Encoding" => "WinAnsiEncoding",
    });
    let resources_id = doc.add_object(dictionary! {
        "Font" => dictionary! { "F1" => font_id },
    });
    let mut kids = Vec::new();
    for lines in pages {
        let mut operations = vec![
            // A filled rectangle: drawing that is not text.
            Operation::new("re", vec![50.into(), 50.into(), 100.into(), 20.into()]),
            Operation::new("f", vec![]),
        ];
        if !lines.is_empty() {
            operations.push(Operation::new("BT", vec![]));
            operations.push(Operation::new("Tf", vec!["F1".into(), 12.into()]));
            operations.push(Operation::new("Td", vec![72.into(), 760.into()]));
            for (i, line) in lines.iter().enumerate() {
                if i > 0 {
                    operations.push(Operation::new("Td", vec![0.into(), (-16).into()]));
                }
                operations.push(Operation::new(
                    "Tj",
                    vec![Object::string_literal(line.as_bytes().to_vec())],
                ));
            }
            operations.push(Operation::new("ET", vec![]));
        }
        let content = Content { operations };
        let content_id = doc.add_object(Stream::new(dictionary! {}, content.encode().unwrap()));
        kids.push(Object::from(doc.add_object(dictionary! {
            "Type" => "Page",
            "Parent" => pages_id,
            "Contents" => content_id,
        })));
    }
    let count = kids.len() as i64;
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! {
            "Type" => "Pages",
            "Kids" => kids,
            "Count" => count,
            "Resources" => resources_id,
            "MediaBox" => vec![0.into(), 0.into(), 595.into(), 842.into()],
        }),
    );
    let catalog_id = doc.add_object(dictionary! {
        "Type" => "Catalog",
        "Pages" => pages_id,
    });
    doc.trailer.set("Root", catalog_id);
    let mut bytes = Vec::new();
    doc.save_to(&mut bytes).unwrap();
    bytes
}

/// A decompression bomb: a one-page PDF whose content stream shows one line of text and then
/// holds `inflated_bytes` zero bytes (whitespace to a PDF reader), deflated — a few KiB on the
/// wire per MiB inflated. The zeros are streamed through the encoder, so building a bomb of
/// gigabytes takes no more memory than the bomb itself.
pub fn pdf_bomb(inflated_bytes: u64) -> Vec<u8> {
    bomb_pdf(inflated_bytes)
}

/// A one-page PDF with a normal text line whose cross-reference stream is the bomb: its
/// entries followed by `inflated_bytes` zeros, deflated — a stream a PDF reader inflates
/// while it parses the file's structure, before looking at any page.
pub fn pdf_with_xref_bomb(inflated_bytes: u64) -> Vec<u8> {
    let plain = bomb_pdf(0);
    // lopdf writes the cross-reference stream last and uncompressed: re-deflate it with the
    // zeros after its entries. Its offset (what `startxref` says) does not move.
    let text = |needle: &[u8], from: usize| {
        from + plain[from..]
            .windows(needle.len())
            .position(|w| w == needle)
            .unwrap()
    };
    let xref_dict = text(b"/Type/XRef", 0);
    let dict_start = plain[..xref_dict]
        .windows(2)
        .rposition(|w| w == b"<<")
        .unwrap();
    let data_start = text(b">>stream\n", xref_dict) + b">>stream\n".len();
    let data_end = text(b"endstream", data_start);
    let entries = plain[data_start..data_end]
        .strip_suffix(b"\n")
        .unwrap_or(&plain[data_start..data_end]);
    let compressed = deflated_zeros(entries, inflated_bytes);
    let dict =
        String::from_utf8_lossy(&plain[dict_start..data_start - b"stream\n".len()]).to_string();
    let length_at = dict.find("/Length").unwrap();
    let dict = format!(
        "{}/Filter/FlateDecode/Length {}>>",
        &dict[..length_at],
        compressed.len()
    );
    let tail_start = text(b"startxref", data_end);
    let mut out = plain[..dict_start].to_vec();
    out.extend_from_slice(dict.as_bytes());
    out.extend_from_slice(b"stream\n");
    out.extend_from_slice(&compressed);
    out.extend_from_slice(b"\nendstream\nendobj\n");
    out.extend_from_slice(&plain[tail_start..]);
    out
}

fn deflated_zeros(prefix: &[u8], inflated_bytes: u64) -> Vec<u8> {
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(prefix).unwrap();
    let zeros = vec![0u8; 1 << 20];
    let mut left = inflated_bytes;
    while left > 0 {
        let n = left.min(zeros.len() as u64) as usize;
        encoder.write_all(&zeros[..n]).unwrap();
        left -= n as u64;
    }
    encoder.finish().unwrap()
}

fn bomb_pdf(inflated_bytes: u64) -> Vec<u8> {
    let line = b"BT /F1 12 Tf 72 760 Td (Bomb) Tj ET\n";
    let compressed = deflated_zeros(line, inflated_bytes);
    let mut doc = Document::with_version("1.5");
    let pages_id = doc.new_object_id();
    let font_id = doc.add_object(dictionary! {
        "Type" => "Font",
        "Subtype" => "Type1",
        "BaseFont" => "Helvetica",
        "Encoding" => "WinAnsiEncoding",
    });
    // By reference: lopdf inherits a parent's resources only when they are a reference.
    let resources_id = doc.add_object(dictionary! {
        "Font" => dictionary! { "F1" => font_id },
    });
    let content_id = doc.add_object(Stream::new(
        dictionary! { "Filter" => "FlateDecode" },
        compressed,
    ));
    let page_id = doc.add_object(dictionary! {
        "Type" => "Page",
        "Parent" => pages_id,
        "Contents" => content_id,
    });
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! {
            "Type" => "Pages",
            "Kids" => vec![Object::from(page_id)],
            "Count" => 1,
            "Resources" => resources_id,
            "MediaBox" => vec![0.into(), 0.into(), 595.into(), 842.into()],
        }),
    );
    let catalog_id = doc.add_object(dictionary! {
        "Type" => "Catalog",
        "Pages" => pages_id,
    });
    doc.trailer.set("Root", catalog_id);
    let mut bytes = Vec::new();
    doc.save_to(&mut bytes).unwrap();
    bytes
}
