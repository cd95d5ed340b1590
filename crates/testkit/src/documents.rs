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
