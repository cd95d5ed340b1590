//! Each service as its own process, as in a multi-process deployment. Killing the generation
//! service makes queries fail fast with a typed 503 — never a made-up answer — while ingest
//! and retrieval keep working. An answer that was already complete before the kill may still be
//! served from the semantic cache (that is the point of the cache), so the 503 is checked on a
//! question that was never answered.

use crate::support::*;
use ragmesh_testkit::{Topology, machine};
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn killed_generation_gives_503_on_query_while_ingest_still_works() {
    let _machine = machine::shared().await;
    let mut stack = Topology::new(ragmesh_bin())
        .retrieval(&[])
        .rerank(&[])
        .generation(FAST_GENERATION)
        .gateway(&[])
        .start()
        .await;
    let base = stack.url().to_string();

    ingest_corpus(&base, "split").await;
    let (status, answer) = post(
        &base,
        "/api/query",
        &json!({ "query": QUESTIONS[3].1, "collection": "split" }),
    )
    .await;
    assert_eq!(status, 200, "{answer}");

    stack.generation.as_mut().unwrap().kill();

    let (status, cached) = post(
        &base,
        "/api/query",
        &json!({ "query": QUESTIONS[3].1, "collection": "split" }),
    )
    .await;
    assert_eq!(
        status, 200,
        "a complete earlier answer stays servable: {cached}"
    );
    assert_eq!(cached["cache"]["hit"], true, "{cached}");
    assert_eq!(cached["answer"], answer["answer"], "{cached}");

    let uncached = QUESTIONS[2].1;
    let (status, answer) = post(
        &base,
        "/api/query",
        &json!({ "query": uncached, "collection": "split" }),
    )
    .await;
    assert_eq!(status, 503, "{answer}");
    assert_eq!(answer["error"]["code"], "unavailable", "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("generation"),
        "{answer}"
    );
    assert!(
        answer.get("answer").is_none(),
        "no answer may be made up: {answer}"
    );

    let (status, events) = sse(
        &base,
        "/api/query/stream",
        &json!({ "query": QUESTIONS[1].1, "collection": "split" }),
    )
    .await;
    if status == 200 {
        assert_eq!(
            events.last().map(|e| e.0.as_str()),
            Some("error"),
            "{events:?}"
        );
    } else {
        assert_eq!(status, 503);
    }

    let (status, ready) = get(&base, "/health/ready").await;
    assert_eq!(status, 503, "{ready}");

    let more = json!({ "documents": [{ "source": "extra.txt", "text": "Basalt is a fine-grained volcanic rock." }] });
    let (status, body) = post(&base, "/api/collections/split/documents", &more).await;
    assert_eq!(
        status, 200,
        "ingest must keep working without generation: {body}"
    );
    assert_eq!(
        retrieve(&base, "split", QUESTIONS[3].1, "hybrid").await[0].0,
        "ownership.txt"
    );
}
