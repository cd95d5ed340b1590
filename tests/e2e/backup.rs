//! Backups through the real processes: `ragmesh backup` takes an archive of a collection while
//! ingest batches keep arriving, `ragmesh restore` puts it into another data directory (another
//! retrieval process), and the copy holds the base corpus plus a prefix of whole batches —
//! once the batches it missed are added, every method answers exactly as the original. A
//! corrupted or truncated archive is refused with a 422 and the existing copy is untouched;
//! restoring over an existing collection without `replace=true` is a 409.
#![allow(clippy::print_stdout)]

use crate::support::*;
use ragmesh_testkit::{Stack, Topology, machine};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;

const BATCHES: usize = 8;

/// Retrieval + gateway (rerank and generation are not needed by these routes), started but
/// not yet waited for.
fn start_pair() -> Stack {
    Topology::new(ragmesh_bin())
        .retrieval(&[])
        .gateway(&[])
        .spawn()
}

fn batch(i: usize) -> Value {
    let docs: Vec<Value> = (0..2)
        .map(|j| {
            json!({
                "source": format!("extra-{i:02}-{j}.txt"),
                "text": format!(
                    "Field note {i}-{j}: the lava lake rose while the starter bubbled; \
                     a chess club met to discuss ownership of borrowed values. Entry {i} {j}."
                ),
            })
        })
        .collect();
    json!({ "documents": docs })
}

async fn listing(base: &str, collection: &str) -> BTreeMap<String, u64> {
    documents(base, collection)
        .await
        .iter()
        .map(|d| {
            (
                d["source"].as_str().unwrap().to_string(),
                d["chunks"].as_u64().unwrap(),
            )
        })
        .collect()
}

async fn all_results(base: &str, collection: &str) -> Vec<Vec<(String, u64)>> {
    let mut results = Vec::new();
    for (_, question) in QUESTIONS {
        for method in ["bm25", "vector", "hybrid"] {
            results.push(retrieve(base, collection, question, method).await);
        }
    }
    results
}

async fn restore_raw(base: &str, query: &str, archive: Vec<u8>) -> (u16, Value) {
    post_raw(
        base,
        &format!("/api/restore{query}"),
        "application/octet-stream",
        archive,
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_backup_taken_during_ingest_restores_elsewhere_with_identical_results() {
    let _machine = machine::shared().await;
    let (a, b) = (start_pair(), start_pair());
    a.wait_ready().await;
    b.wait_ready().await;
    let (ga, gb) = (a.gateway(), b.gateway());
    ingest_corpus(&ga.url, "kb").await;

    // Batches keep arriving, in order, while the backup is taken.
    let base_a = ga.url.clone();
    let writer = tokio::spawn(async move {
        for i in 0..BATCHES {
            let (status, body) = post(&base_a, "/api/collections/kb/documents", &batch(i)).await;
            assert_eq!(status, 200, "{body}");
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let archives = tempfile::tempdir().unwrap();
    let archive_path = archives.path().join("kb.ragmesh-backup");
    let archive_arg = archive_path.display().to_string();
    let (ok, out) = run_ragmesh(&[
        "backup",
        "--collection",
        "kb",
        "--out",
        &archive_arg,
        "--url",
        &ga.url,
    ]);
    assert!(ok, "{out}");
    writer.await.unwrap();
    let archive = std::fs::read(&archive_path).unwrap();

    let (ok, out) = run_ragmesh(&["restore", &archive_arg, "--url", &gb.url]);
    assert!(ok, "{out}");
    assert!(out.contains("restored collection kb"), "{out}");

    // The copy is the corpus plus whole batches 0..n, each document with all its chunks.
    let original = listing(&ga.url, "kb").await;
    let copy = listing(&gb.url, "kb").await;
    for (source, chunks) in &copy {
        assert_eq!(original.get(source), Some(chunks), "{source}");
    }
    let present: Vec<bool> = (0..BATCHES)
        .map(|i| {
            let both = (0..2).map(|j| copy.contains_key(&format!("extra-{i:02}-{j}.txt")));
            let both: Vec<bool> = both.collect();
            assert_eq!(both[0], both[1], "batch {i} is split in the copy");
            both[0]
        })
        .collect();
    let taken = present.iter().take_while(|p| **p).count();
    assert!(
        present[taken..].iter().all(|p| !p),
        "not a prefix: {present:?}"
    );
    for (source, _) in QUESTIONS {
        assert!(copy.contains_key(*source), "{source} missing from the copy");
    }

    // Add what the snapshot missed, in the same order: both answer identically.
    for i in taken..BATCHES {
        let (status, body) = post(&gb.url, "/api/collections/kb/documents", &batch(i)).await;
        assert_eq!(status, 200, "{body}");
    }
    let expected = all_results(&ga.url, "kb").await;
    assert_eq!(expected, all_results(&gb.url, "kb").await);

    // An occupied name needs replace; a damaged archive is refused and changes nothing.
    let (status, body) = restore_raw(&gb.url, "", archive.clone()).await;
    assert_eq!(status, 409, "{body}");
    let mut flipped = archive.clone();
    let at = flipped.len() / 2;
    flipped[at] ^= 0x20;
    let (status, body) = restore_raw(&gb.url, "?replace=true", flipped).await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("SHA-256"),
        "{body}"
    );
    let truncated = archive[..archive.len() - 100].to_vec();
    let (status, body) = restore_raw(&gb.url, "?replace=true", truncated).await;
    assert_eq!(status, 422, "{body}");
    assert!(body.to_string().contains("truncated"), "{body}");
    assert_eq!(expected, all_results(&gb.url, "kb").await);
    assert_eq!(listing(&gb.url, "kb").await, original);

    // With replace, the copy goes back to the snapshot.
    let (status, body) = restore_raw(&gb.url, "?replace=true", archive.clone()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["replaced"], true);
    assert_eq!(listing(&gb.url, "kb").await, copy);
    println!(
        "archive {} bytes; snapshot held {taken} of {BATCHES} concurrent batches",
        archive.len()
    );
}
