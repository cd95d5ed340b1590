//! Two caches (as in two gateway processes) sharing the real Redis on 127.0.0.1:6379 under a
//! key prefix of this test's own. Regression test: a gateway that first heard of a collection
//! through an invalidation message (another gateway's ingest) must still key its lookups under
//! the epoch stored in Redis, or it never sees what the other gateways store.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use ragmesh_cache::{AnswerScope, SemanticCache, normalize_query};
use ragmesh_config::CacheSettings;
use std::time::Duration;

fn settings(prefix: &str, check_ms: u64) -> CacheSettings {
    CacheSettings {
        l2_redis_url: Some("redis://127.0.0.1:6379".into()),
        l2_key_prefix: prefix.into(),
        l2_generation_check_ms: check_ms,
        ..CacheSettings::default()
    }
}

fn scope() -> AnswerScope {
    AnswerScope {
        collection: "shared".into(),
        k: 5,
        method: "hybrid".into(),
        generator_backend: "embedded".into(),
        generator_model: "m".into(),
        prompt_version: "p".into(),
        ..AnswerScope::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_told_of_a_generation_by_pubsub_still_reads_the_shared_epoch() {
    let prefix = format!("ragmesh:test:shared-l2:{}", std::process::id());
    let a = SemanticCache::new(&settings(&prefix, 500)).unwrap();
    // B trusts a generation for a minute: only the message tells it of the bump.
    let b = SemanticCache::new(&settings(&prefix, 60_000)).unwrap();
    // Let both subscribers connect before the bump is published.
    tokio::time::sleep(Duration::from_millis(300)).await;

    a.bump_generation("shared").await;
    // Pub/sub on loopback takes well under a millisecond; B must not have looked yet.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let query = "How often should a sourdough starter be fed?";
    let normalized = normalize_query(query);
    let on_a = a.namespace(&scope()).await;
    a.store(
        &on_a,
        query,
        &normalized,
        vec![0.0; 384],
        serde_json::json!({"answer": "twice a day"}),
    )
    .await;

    let on_b = b.namespace(&scope()).await;
    assert_eq!(on_b.generation, 1, "B heard of the bump");
    assert_eq!(on_b.key(), on_a.key(), "both gateways use one namespace");
    let hit = b
        .lookup_exact(&on_b, &normalized)
        .await
        .expect("B finds A's answer in Redis");
    assert_eq!(hit.entry.payload["answer"], "twice a day");
    ragmesh_testkit::delete_redis_keys(&prefix);
}
