//! What is stored stays stored: a restart on the same data directory gives the same results,
//! re-ingesting the same text adds nothing, and deleting a source removes it from every leg.

use crate::support::*;
use ragmesh_testkit::machine;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread")]
async fn restart_reingest_and_delete_keep_the_indexes_consistent() {
    let _machine = machine::shared().await;
    let data = tempfile::tempdir().unwrap();
    let mut up = start_up(data.path());
    let base = up.url.clone();
    ingest_corpus(&base, "keep").await;
    let chunks = chunk_count(&base, "keep").await;
    assert!(chunks >= 4);

    let mut before = Vec::new();
    for (_, question) in QUESTIONS {
        for method in ["hybrid", "bm25", "vector"] {
            before.push(retrieve(&base, "keep", question, method).await);
        }
    }
    assert!(
        up.stop(Duration::from_secs(30)),
        "ragmesh did not shut down cleanly:\n{}",
        up.log_tail()
    );

    let up = start_up(data.path());
    let base = up.url.clone();
    let mut after = Vec::new();
    for (_, question) in QUESTIONS {
        for method in ["hybrid", "bm25", "vector"] {
            after.push(retrieve(&base, "keep", question, method).await);
        }
    }
    assert_eq!(before, after, "results changed across a restart");

    let again = ingest_corpus(&base, "keep").await;
    assert_eq!(again["chunks_added"], 0, "{again}");
    assert_eq!(
        chunk_count(&base, "keep").await,
        chunks,
        "re-ingest changed the chunk count"
    );

    let (status, deleted) =
        delete(&base, "/api/collections/keep/documents?source=sicilian.md").await;
    assert_eq!(status, 200, "{deleted}");
    assert!(deleted["chunks_deleted"].as_u64().unwrap() >= 1);
    for method in ["hybrid", "bm25", "vector"] {
        let hits = retrieve(
            &base,
            "keep",
            "Sicilian Defence chess opening e4 c5 Najdorf",
            method,
        )
        .await;
        assert!(
            hits.iter().all(|(s, _)| s != "sicilian.md"),
            "{method} still returns the deleted source: {hits:?}"
        );
    }
    let (_, listing) = get(&base, "/api/collections/keep/documents").await;
    assert!(!listing.to_string().contains("sicilian.md"), "{listing}");
    assert!(chunk_count(&base, "keep").await < chunks);
    let (status, _) = delete(&base, "/api/collections/keep/documents?source=sicilian.md").await;
    assert_eq!(status, 404, "deleting an absent source is a 404");
}
