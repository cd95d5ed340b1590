//! Extraction as a user sees it: every accepted format gives the text a reader sees, in
//! order, without markup; every rejected file gets an error naming it and saying why.

#![allow(clippy::unwrap_used)]

use crate::{Bound, ExtractError, Format, Limits, Scope, extract, extract_within};
use ragmesh_core::Classify;
use ragmesh_testkit::documents::{
    DocxParagraph, docx, docx_with_part, pdf, pdf_bomb, pdf_with_xref_bomb,
};

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

fn limits(inflated: u64, text: u64) -> Limits {
    Limits {
        inflated: Bound::per_file(inflated),
        text: Bound::per_file(text),
    }
}

#[test]
fn a_pdf_bomb_is_413_naming_the_file_and_the_limit_without_inflating_it() {
    // 100 MiB of zeros behind one line of text: a real bomb under the default 64 MiB bound.
    let bomb = pdf_bomb(100 * 1024 * 1024);
    assert!(bomb.len() < 1024 * 1024, "{} bytes", bomb.len());
    let err = extract("bomb.pdf", &bomb).unwrap_err();
    assert_eq!(status(&err), 413, "{err}");
    assert_eq!(
        err.to_string(),
        "file \"bomb.pdf\" (PDF) decompresses to more than 67108864 decompressed bytes, the limit \
         per file ([gateway.extract] max_inflated_bytes_per_file): refused before extracting its text"
    );
    assert_eq!(err.file(), "bomb.pdf");

    // The same shape under its bound is an ordinary PDF, and the meter counted what it inflated.
    let small = pdf_bomb(2 * 1024 * 1024);
    let out = extract_within("small.pdf", &small, &limits(4 * 1024 * 1024, 1024)).unwrap();
    assert_eq!(out.text, "Bomb");
    assert!(
        out.inflated_bytes > 2 * 1024 * 1024,
        "{}",
        out.inflated_bytes
    );
    let err = extract_within("small.pdf", &small, &limits(1024 * 1024, 1024)).unwrap_err();
    assert!(
        matches!(err, ExtractError::TooMuchInflated { .. }),
        "{err:?}"
    );
}

#[test]
fn a_request_bound_is_named_as_the_request_limit() {
    let bomb = pdf_bomb(64 * 1024);
    let narrowed = Limits {
        inflated: Bound {
            bytes: 1000,
            scope: Scope::Request(5000),
        },
        text: Bound::per_file(1024),
    };
    let err = extract_within("late.pdf", &bomb, &narrowed).unwrap_err();
    assert_eq!(status(&err), 413);
    assert!(
        err.to_string().contains(
            "the 1000 decompressed bytes left of the 5000 allowed per request ([gateway.extract] \
             max_inflated_bytes_per_request)"
        ),
        "{err}"
    );
}

#[test]
fn text_past_the_bound_is_413_in_every_format() {
    let words = "lava ".repeat(40); // 200 bytes
    let docx_file = docx(&[DocxParagraph {
        style: "",
        runs: &[&words],
    }]);
    let pdf_file = pdf(&[&[&words]]);
    let html = format!("<p>{words}</p>");
    let files: [(&str, &[u8]); 5] = [
        ("a.txt", words.as_bytes()),
        ("a.md", words.as_bytes()),
        ("a.html", html.as_bytes()),
        ("a.docx", &docx_file),
        ("a.pdf", &pdf_file),
    ];
    for (name, bytes) in files {
        let err = extract_within(name, bytes, &limits(1 << 20, 100)).unwrap_err();
        assert_eq!(status(&err), 413, "{name}: {err}");
        assert_eq!(
            err.to_string(),
            format!(
                "file {name:?} holds more than 100 bytes of text, the limit per file ([gateway.extract] \
                 max_text_bytes_per_file): split it into smaller files"
            )
        );
        // Under the bound the same file is fine.
        let out = extract_within(name, bytes, &limits(1 << 20, 1000)).unwrap();
        assert_eq!(out.text.trim(), words.trim(), "{name}");
    }
}

#[test]
fn a_docx_body_inflating_past_the_bound_is_413() {
    let words = "basalt ".repeat(10_000); // 70 kB of body, deflating to a few hundred bytes
    let file = docx(&[DocxParagraph {
        style: "",
        runs: &[&words],
    }]);
    let err = extract_within("big.docx", &file, &limits(16 * 1024, 1 << 20)).unwrap_err();
    assert_eq!(status(&err), 413, "{err}");
    assert!(
        matches!(err, ExtractError::TooMuchInflated { .. }),
        "{err:?}"
    );
    let out = extract_within("big.docx", &file, &limits(1 << 20, 1 << 20)).unwrap();
    assert!(out.inflated_bytes > 70_000, "{}", out.inflated_bytes);
}

#[test]
fn a_bomb_in_a_structure_stream_is_refused_before_lopdf_parses_it() {
    let file = pdf_with_xref_bomb(4 * 1024 * 1024);
    let err = extract_within("xref.pdf", &file, &limits(1024 * 1024, 1024)).unwrap_err();
    assert!(
        matches!(err, ExtractError::TooMuchInflated { .. }),
        "{err:?}"
    );
    // Under the bound it is an ordinary PDF.
    let out = extract_within("xref.pdf", &file, &limits(8 * 1024 * 1024, 1024)).unwrap();
    assert_eq!(out.text, "Bomb");
}
