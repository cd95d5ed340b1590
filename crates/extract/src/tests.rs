//! Extraction as a user sees it: every accepted format gives the text a reader sees, in
//! order, without markup; every rejected file gets an error naming it and saying why.

#![allow(clippy::unwrap_used)]

use crate::{ExtractError, Format, extract};
use ragmesh_core::Classify;
use ragmesh_testkit::documents::{DocxParagraph, docx, docx_with_part, pdf};

fn status(err: &ExtractError) -> u16 {
    err.code().http().as_u16()
}

#[test]
fn the_extension_picks_the_format_case_insensitively() {
    let cases = [
        ("notes.TXT", Format::Text),
        ("guide.Md", Format::Markdown),
        ("guide.markdown", Format::Markdown),
        ("page.HTM", Format::Html),
        ("page.html", Format::Html),
        ("paper.PDF", Format::Pdf),
        ("dir/report.DocX", Format::Docx),
    ];
    for (name, format) in cases {
        assert_eq!(Format::from_file_name(name).unwrap(), format, "{name}");
    }
}

#[test]
fn unknown_types_are_415_and_name_the_file_and_every_allowed_extension() {
    for name in ["tool.exe", "sheet.xlsx", "README", "archive.md.zip", ".txt"] {
        let err = extract(name, b"anything").unwrap_err();
        assert_eq!(status(&err), 415, "{name}");
        assert_eq!(
            err.to_string(),
            format!(
                "unsupported file type {name:?}: upload .txt, .md, .markdown, .html, .htm, .pdf, .docx files"
            )
        );
        assert_eq!(err.file(), name);
    }
}

#[test]
fn markdown_is_kept_as_written_and_its_first_heading_is_the_title() {
    let source = "\u{feff}```\n# not a title\n```\n# Lava lakes\n\nKilauea had one.\n";
    let out = extract("kilauea.md", source.as_bytes()).unwrap();
    assert_eq!(out.text, &source[3..]);
    assert_eq!(out.title.as_deref(), Some("Lava lakes"));
    let plain = extract("a.txt", b"# not markdown here").unwrap();
    assert_eq!(plain.title, None);
}

#[test]
fn text_that_is_not_utf8_is_422_naming_the_file_and_the_byte() {
    for name in ["broken.txt", "broken.md", "broken.html"] {
        let err = extract(name, b"ok\xff").unwrap_err();
        assert_eq!(status(&err), 422);
        assert_eq!(
            err.to_string(),
            format!("file {name:?} is not UTF-8 text (invalid byte at offset 2)")
        );
    }
}

#[test]
fn html_keeps_visible_text_and_headings_and_drops_code_and_comments() {
    let page = r#"<!DOCTYPE html>
<html><head><title>Sourdough &amp; starters</title>
<style>body { color: red }</style>
<script type="text/javascript">var secret = "<p>tracking pixel</p>";</script>
</head>
<body>
<!-- a comment that must not show -->
<h1>Feeding   a starter</h1>
<p>Feed it <b>twice</b> a day
   at room temperature &mdash; 1:1:1 by weight.</p>
<noscript>Enable JavaScript</noscript>
<template><p>template text</p></template>
<h2>Tools</h2>
<ul><li>A jar</li><li>A scale&nbsp;(grams)</li></ul>
<table><tr><td>flour</td><td>50 g</td></tr></table>
<SCRIPT>alert("upper-case script")</SCRIPT>
</body></html>"#;
    let out = extract("bread.HTML", page.as_bytes()).unwrap();
    assert_eq!(
        out.text,
        "Feeding a starter\n\nFeed it twice a day at room temperature — 1:1:1 by weight.\n\nTools\n\nA jar\nA scale (grams)\n\nflour 50 g"
    );
    assert_eq!(out.title.as_deref(), Some("Sourdough & starters"));
}

#[test]
fn docx_paragraphs_are_lines_with_headings_tabs_and_breaks_kept() {
    let file = docx(&[
        DocxParagraph {
            style: "Title",
            runs: &["Borrow ", "checker"],
        },
        DocxParagraph {
            style: "",
            runs: &["Values are dropped when their owner goes out of scope."],
        },
        DocxParagraph {
            style: "Heading1",
            runs: &["Moves & copies"],
        },
        DocxParagraph {
            style: "",
            runs: &["name\tvalue ", "first line\nsecond line"],
        },
    ]);
    let out = extract("ownership.docx", &file).unwrap();
    assert_eq!(
        out.text,
        "Borrow checker\n\nValues are dropped when their owner goes out of scope.\n\nMoves & copies\n\nname\tvalue first line\nsecond line"
    );
    assert_eq!(out.title.as_deref(), Some("Borrow checker"));
}

#[test]
fn pdf_text_comes_page_by_page_in_order() {
    let file = pdf(&[
        &["The Sicilian Defence", "begins with e4 c5."],
        &["Page two: the Najdorf variation."],
    ]);
    let out = extract("chess.pdf", &file).unwrap();
    assert_eq!(
        out.text,
        "The Sicilian Defence\nbegins with e4 c5.\n\nPage two: the Najdorf variation."
    );
    assert_eq!(out.format, Format::Pdf);
}

#[test]
fn a_pdf_without_a_text_layer_is_422_saying_so() {
    let file = pdf(&[&[], &[]]);
    let err = extract("scan.pdf", &file).unwrap_err();
    assert_eq!(status(&err), 422);
    assert!(matches!(err, ExtractError::NoTextLayer { .. }), "{err:?}");
    assert!(
        err.to_string().contains("\"scan.pdf\" has no text layer"),
        "{err}"
    );
}

#[test]
fn corrupt_files_are_422_naming_the_file_and_what_failed() {
    let good_docx = docx(&[DocxParagraph {
        style: "",
        runs: &["text"],
    }]);
    let good_pdf = pdf(&[&["text"]]);
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "cut.docx",
            good_docx[..good_docx.len() / 2].to_vec(),
            "not a zip archive",
        ),
        (
            "no-body.docx",
            docx_with_part("word/other.xml", "<x/>"),
            "cannot open word/document.xml",
        ),
        (
            "bad-xml.docx",
            docx_with_part("word/document.xml", "<w:document><w:body><w:p></w:body>"),
            "word/document.xml is not well-formed XML",
        ),
        ("garbage.pdf", b"this is not a PDF at all".to_vec(), ""),
        ("cut.pdf", good_pdf[..40].to_vec(), ""),
    ];
    for (name, bytes, reason) in cases {
        let err = extract(name, &bytes).unwrap_err();
        assert_eq!(status(&err), 422, "{name}: {err}");
        assert!(
            matches!(err, ExtractError::Corrupt { .. }),
            "{name}: {err:?}"
        );
        let message = err.to_string();
        assert!(
            message.starts_with(&format!("file {name:?} is not a readable ")),
            "{message}"
        );
        assert!(message.contains(reason), "{name}: {message}");
    }
}

#[test]
fn files_without_text_are_422() {
    for (name, bytes) in [
        ("empty.txt", b"  \n\t".to_vec()),
        ("empty.html", b"<html><script>x()</script></html>".to_vec()),
        (
            "empty.docx",
            docx(&[DocxParagraph {
                style: "",
                runs: &[" "],
            }]),
        ),
    ] {
        let err = extract(name, &bytes).unwrap_err();
        assert_eq!(status(&err), 422, "{name}");
        assert!(err.to_string().contains("holds no text"), "{err}");
    }
}
