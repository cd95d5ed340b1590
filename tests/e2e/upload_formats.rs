//! Uploads of every accepted format through real processes (`ragmesh up`, real models): each
//! document is found by a question only its own text answers, hidden HTML code is not
//! indexed, unsupported and corrupt files are refused with a status and a message naming
//! them, a refused request stores nothing, and `ragmesh ingest` walks a folder, resumes from
//! its journal and names every file that failed.

use crate::support::*;
use ragmesh_testkit::documents::{DocxParagraph, docx, pdf};
use ragmesh_testkit::machine;
use reqwest::multipart::{Form, Part};
use serde_json::Value;
use std::ffi::OsStr;
use std::path::Path;

const HONEYBEES_HTML: &str = r#"<!DOCTYPE html><html><head><title>Bees &amp; dances</title>
<style>.x { content: "stylesheet marmalade" }</style>
<script>var tracking = "zebra quantum marmalade";</script></head>
<body><h1>Honeybee waggle dance</h1>
<p>Forager honeybees perform a waggle dance on the comb to tell their hive mates the
direction and distance of a patch of flowers.</p></body></html>"#;

fn koji_docx() -> Vec<u8> {
    docx(&[
        DocxParagraph {
            style: "Heading1",
            runs: &["Koji"],
        },
        DocxParagraph {
            style: "",
            runs: &[
                "The mould Aspergillus oryzae, called koji, ",
                "converts rice starch into sugars for brewing sake and making miso.",
            ],
        },
    ])
}

fn tides_pdf() -> Vec<u8> {
    pdf(&[
        &["Spring tides happen when the Sun and the Moon line up"],
        &["at new moon and full moon, giving the largest tidal range of the month."],
    ])
}

/// (file name, content, question only that file answers).
fn mixed_files() -> Vec<(&'static str, Vec<u8>, &'static str)> {
    vec![
        (
            "lighthouse.txt",
            b"The Eddystone Lighthouse stands on dangerous rocks south of Plymouth. John Smeaton built its third tower from dovetailed granite blocks in 1759.".to_vec(),
            "Who built the granite tower of the Eddystone Lighthouse?",
        ),
        (
            "glacier.MD",
            b"# Perito Moreno\n\nThe Perito Moreno glacier in Patagonia advances across Lake Argentino until its ice dams the lake; the dam ruptures every few years.\n".to_vec(),
            "Which glacier dams Lake Argentino with its ice?",
        ),
        (
            "honeybees.html",
            HONEYBEES_HTML.as_bytes().to_vec(),
            "How do honeybees tell hive mates where flowers are?",
        ),
        (
            "tides.pdf",
            tides_pdf(),
            "When do spring tides with the largest tidal range happen?",
        ),
        (
            "koji.docx",
            koji_docx(),
            "Which mould turns rice starch into sugar for sake and miso?",
        ),
    ]
}

fn form(files: Vec<(&str, Vec<u8>)>) -> Form {
    files.into_iter().fold(Form::new(), |form, (name, bytes)| {
        form.part("file", Part::bytes(bytes).file_name(name.to_string()))
    })
}

async fn listing(base: &str, collection: &str) -> Vec<(String, Value)> {
    documents(base, collection)
        .await
        .iter()
        .map(|d| {
            (
                d["source"].as_str().unwrap().to_string(),
                d["metadata"].clone(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_format_is_searchable_and_bad_files_are_refused_without_storing_anything() {
    let _machine = machine::shared().await;
    let data = tempfile::tempdir().unwrap();
    let up = start_up(data.path());
    let base = up.url.clone();

    let files = mixed_files();
    let parts = files.iter().map(|(n, b, _)| (*n, b.clone())).collect();
    let (status, body) = upload(&base, "mixed", form(parts)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["documents"], 5, "{body}");

    for (source, _, question) in &files {
        for method in ["hybrid", "bm25", "vector"] {
            let hits = retrieve(&base, "mixed", question, method).await;
            assert_eq!(
                hits.first().map(|h| h.0.as_str()),
                Some(*source),
                "{method} for {question:?} ranked {hits:?}"
            );
        }
    }
    for hidden in [
        "zebra quantum marmalade",
        "stylesheet marmalade",
        "tracking",
    ] {
        let hits = retrieve(&base, "mixed", hidden, "bm25").await;
        assert!(hits.is_empty(), "script/style text is indexed: {hits:?}");
    }
    let documents = listing(&base, "mixed").await;
    let titles: Vec<(&str, Option<&str>)> = documents
        .iter()
        .map(|(s, m)| (s.as_str(), m["title"].as_str()))
        .collect();
    assert!(
        titles.contains(&("honeybees.html", Some("Bees & dances"))),
        "{titles:?}"
    );
    assert!(
        titles.contains(&("glacier.MD", Some("Perito Moreno"))),
        "{titles:?}"
    );
    assert!(titles.contains(&("koji.docx", Some("Koji"))), "{titles:?}");
    let chunks = chunk_count(&base, "mixed").await;

    for name in ["setup.exe", "budget.xlsx"] {
        let (status, body) = upload(
            &base,
            "mixed",
            form(vec![
                ("fine.txt", b"fine text".to_vec()),
                (name, b"PK\x03\x04".to_vec()),
            ]),
        )
        .await;
        assert_eq!(status, 415, "{body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(name), "{message}");
        assert!(
            message.contains(".txt, .md, .markdown, .html, .htm, .pdf, .docx"),
            "{message}"
        );
    }

    let (status, body) = upload(
        &base,
        "mixed",
        form(vec![
            (
                "volcano.txt",
                b"Kilauea's summit crater held a lava lake.".to_vec(),
            ),
            (
                "broken.pdf",
                b"%PDF-1.5\n this is not really a pdf".to_vec(),
            ),
        ]),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("\"broken.pdf\""), "{message}");
    let after: Vec<String> = listing(&base, "mixed")
        .await
        .into_iter()
        .map(|(s, _)| s)
        .collect();
    assert!(
        !after.iter().any(|s| s == "volcano.txt" || s == "fine.txt"),
        "a refused request stored a file: {after:?}"
    );
    assert_eq!(after.len(), 5, "{after:?}");
    assert_eq!(chunk_count(&base, "mixed").await, chunks);
    assert_eq!(
        retrieve(&base, "mixed", files[3].2, "hybrid").await[0].0,
        "tides.pdf"
    );

    // Upserts through uploads: the same file again adds nothing, a changed one replaces its text.
    let (status, again) = upload(&base, "mixed", form(vec![("koji.docx", koji_docx())])).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(
        (
            again["chunks_added"].as_u64(),
            again["chunks_removed"].as_u64()
        ),
        (Some(0), Some(0)),
        "{again}"
    );
    let changed = b"The lighthouse keeper's cat, Tibbles, is blamed for the extinction of the Stephens Island wren.".to_vec();
    let (status, replaced) = upload(&base, "mixed", form(vec![("lighthouse.txt", changed)])).await;
    assert_eq!(status, 200, "{replaced}");
    assert!(
        replaced["chunks_removed"].as_u64().unwrap() >= 1,
        "{replaced}"
    );
    let hits = retrieve(&base, "mixed", "Smeaton dovetailed granite 1759", "bm25").await;
    assert!(
        hits.is_empty(),
        "the old lighthouse text is still indexed: {hits:?}"
    );
    assert_eq!(
        retrieve(
            &base,
            "mixed",
            "Which cat is blamed for a wren's extinction?",
            "hybrid"
        )
        .await[0]
            .0,
        "lighthouse.txt"
    );
    assert_eq!(chunk_count(&base, "mixed").await, chunks);
}

fn run_ingest(base: &str, dir: &Path, journal: &Path) -> (bool, String) {
    run_ragmesh(&[
        OsStr::new("ingest"),
        OsStr::new("--collection"),
        OsStr::new("cli"),
        OsStr::new("--url"),
        OsStr::new(base),
        OsStr::new("--quiet"),
        OsStr::new("--parallel"),
        OsStr::new("2"),
        OsStr::new("--batch"),
        OsStr::new("2"),
        OsStr::new("--journal"),
        journal.as_os_str(),
        dir.as_os_str(),
    ])
}

#[tokio::test(flavor = "multi_thread")]
async fn the_cli_walks_a_folder_resumes_from_its_journal_and_names_failures() {
    let _machine = machine::shared().await;
    let data = tempfile::tempdir().unwrap();
    let up = start_up(data.path());
    let base = up.url.clone();

    let work = tempfile::tempdir().unwrap();
    let docs = work.path().join("docs");
    std::fs::create_dir_all(docs.join("sub/deeper")).unwrap();
    std::fs::write(docs.join("glacier.md"), &mixed_files()[1].1).unwrap();
    std::fs::write(docs.join("sub/honeybees.html"), HONEYBEES_HTML).unwrap();
    std::fs::write(docs.join("sub/deeper/tides.pdf"), tides_pdf()).unwrap();
    std::fs::write(docs.join("koji.docx"), koji_docx()).unwrap();
    std::fs::write(docs.join("setup.exe"), b"MZ").unwrap();
    let journal = work.path().join("journal.json");

    let (ok, out) = run_ingest(&base, &docs, &journal);
    assert!(ok, "{out}");
    assert!(out.contains("ingested 4 files"), "{out}");
    assert!(out.contains("setup.exe: unsupported type"), "{out}");
    let mut sources: Vec<String> = listing(&base, "cli")
        .await
        .into_iter()
        .map(|(s, _)| s)
        .collect();
    sources.sort();
    assert_eq!(
        sources,
        [
            "glacier.md",
            "koji.docx",
            "sub/deeper/tides.pdf",
            "sub/honeybees.html"
        ]
    );
    assert_eq!(
        retrieve(&base, "cli", mixed_files()[3].2, "hybrid").await[0].0,
        "sub/deeper/tides.pdf"
    );
    let chunks = chunk_count(&base, "cli").await;

    let (ok, out) = run_ingest(&base, &docs, &journal);
    assert!(ok, "{out}");
    assert!(out.contains("ingested 0 files"), "{out}");
    assert!(out.contains("4 unchanged since the last run"), "{out}");
    assert_eq!(chunk_count(&base, "cli").await, chunks);

    std::fs::write(
        docs.join("glacier.md"),
        "# Moved on\n\nThe Jakobshavn glacier in Greenland calves the most icebergs.\n",
    )
    .unwrap();
    std::fs::write(docs.join("sub/broken.pdf"), b"%PDF-1.4 garbage").unwrap();
    std::fs::write(docs.join("sub/new.txt"), "Axolotls regrow whole limbs.").unwrap();
    let (ok, out) = run_ingest(&base, &docs, &journal);
    assert!(!ok, "a failed file must fail the run: {out}");
    assert!(
        out.contains("failed ") && out.contains("broken.pdf"),
        "{out}"
    );
    assert!(out.contains("ingested 2 files"), "{out}");
    assert!(out.contains("3 unchanged"), "{out}");
    assert_eq!(
        retrieve(
            &base,
            "cli",
            "Which glacier calves the most icebergs?",
            "hybrid"
        )
        .await[0]
            .0,
        "glacier.md"
    );
    assert_eq!(
        retrieve(&base, "cli", "Which animal regrows whole limbs?", "hybrid").await[0].0,
        "sub/new.txt"
    );
}
