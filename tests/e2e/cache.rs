//! The semantic cache across real processes: one retrieval and one generation service, several
//! `ragmesh serve gateway` processes, and a real Redis. Gateways A and B share the Redis on
//! 127.0.0.1:6379 (under a key prefix of their own, removed at the end); gateway C is like B
//! but names another generator; gateways E and F share a private redis-server this test starts
//! on a free port, kills and restarts (the shared one is never touched).
//!
//! One test function, so the slow backends (models) start once for every assertion.

use crate::support::{
    QUESTIONS, client, corpus_documents, get, get_text, post, ragmesh_bin, sse, step_names,
};
use ragmesh_testkit::{RagmeshProcess, RedisServer, Stack, Topology, delete_redis_keys, machine};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const COLLECTION: &str = "cachetest";

/// The slow backends, started once: retrieval and generation (rerank is left out).
fn backends() -> Stack {
    Topology::new(ragmesh_bin())
        .retrieval(&[])
        .generation(&[("RAGMESH__GENERATION__MAX_NEW_TOKENS", "24")])
        .spawn()
}

/// A gateway over `backends` with L2 on `redis_url` under `prefix`; `extra` overrides.
fn gateway(
    backends: &Stack,
    redis_url: &str,
    prefix: &str,
    extra: &[(&str, &str)],
) -> RagmeshProcess {
    let mut env: Vec<(&str, &str)> = vec![
        ("RAGMESH__CACHE__L2_REDIS_URL", redis_url),
        ("RAGMESH__CACHE__L2_KEY_PREFIX", prefix),
    ];
    env.extend_from_slice(extra);
    backends.add_gateway(&env)
}

/// Ingests `body` into the test collection through `base`, retrying while the retrieval
/// service is still loading its model (503).
async fn ingest(base: &str, body: &Value) {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let (status, answer) = post(
            base,
            &format!("/api/collections/{COLLECTION}/documents"),
            body,
        )
        .await;
        if status == 200 {
            return;
        }
        assert!(
            status == 503 && Instant::now() < deadline,
            "ingest failed: {status} {answer}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn ask(base: &str, query: &str, extra: Value) -> Value {
    let mut body = json!({ "query": query, "collection": COLLECTION });
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    // The generation service answers UNAVAILABLE while its model loads (seconds after start);
    // only that state is waited for, every other failure fails the test at once.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let response = client()
            .post(format!("{base}/api/query"))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let cache_status = response
            .headers()
            .get("cache-status")
            .map(|v| v.to_str().unwrap().to_string());
        let answer: Value = response.json().await.unwrap_or(Value::Null);
        let loading = status == 503 && answer.to_string().contains("still loading");
        if !loading || Instant::now() >= deadline {
            assert_eq!(status, 200, "query {query:?} on {base} failed: {answer}");
            // The Cache-Status header (RFC 9211) says what the body's `cache` says.
            let expected = match cache_of(&answer) {
                (true, Some(tier), Some(kind)) => format!("ragmesh; hit; detail={tier}-{kind}"),
                _ => "ragmesh; fwd=uri-miss".to_string(),
            };
            assert_eq!(cache_status.as_deref(), Some(expected.as_str()), "{answer}");
            return answer;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn cache_of(answer: &Value) -> (bool, Option<&str>, Option<&str>) {
    let c = &answer["cache"];
    (
        c["hit"].as_bool().unwrap(),
        c["tier"].as_str(),
        c["match"].as_str(),
    )
}

/// Waits (bounded) until `check` holds for `base`'s cache stats; panics with them otherwise.
async fn wait_for_stats(base: &str, what: &str, check: impl Fn(&Value) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, stats) = get(base, "/api/cache/stats").await;
        if check(&stats) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: never happened; stats {stats}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateways_share_answers_never_serve_stale_ones_and_survive_redis_outages() {
    let _machine = machine::alone().await;
    let backends = backends();
    let prefix = format!("ragmesh:test:cache:{}", std::process::id());
    let shared = "redis://127.0.0.1:6379";
    // B trusts a generation for a minute: only the pub/sub message can tell it of an ingest.
    let a = gateway(&backends, shared, &prefix, &[]);
    let b = gateway(
        &backends,
        shared,
        &prefix,
        &[("RAGMESH__CACHE__L2_GENERATION_CHECK_MS", "60000")],
    );
    let generation = backends.generation.as_ref().unwrap();
    let other_generator = generation.url.replace("127.0.0.1", "localhost");
    let c = gateway(
        &backends,
        shared,
        &prefix,
        &[
            ("RAGMESH__GATEWAY__GENERATION_URL", other_generator.as_str()),
            // Another prompt template is another generator identity (provider, model, prompt version).
            ("RAGMESH__GENERATION__PROMPT__ANSWER_LANGUAGE", "French"),
        ],
    );
    ingest(&a.url, &corpus_documents()).await;

    // A answers; B gets the same answer from L2, then from its own L1.
    let question = QUESTIONS[1].1;
    let first = ask(&a.url, question, json!({})).await;
    assert_eq!(cache_of(&first), (false, None, None), "{first}");
    let from_b = ask(&b.url, question, json!({})).await;
    assert_eq!(
        cache_of(&from_b),
        (true, Some("l2"), Some("exact")),
        "{from_b}"
    );
    assert_eq!(from_b["answer"], first["answer"]);
    assert_eq!(from_b["sources"], first["sources"]);
    assert_eq!(from_b["cache"]["original_query"], question);
    assert_ne!(from_b["trace_id"], first["trace_id"]);
    let steps = step_names(&from_b);
    assert!(
        steps.contains(&"cache") && !steps.contains(&"retrieve"),
        "{steps:?}"
    );
    let again = ask(
        &b.url,
        "  how OFTEN should a sourdough starter be fed at room temperature ",
        json!({}),
    )
    .await;
    assert_eq!(
        cache_of(&again),
        (true, Some("l1"), Some("exact")),
        "normalised text: {again}"
    );

    // Paraphrases: of a question B has seen (L1 semantic), of one only A has seen (L2 semantic).
    let paraphrase = ask(
        &b.url,
        // Reworded (modal, voice, inflection), no content word added: the verifier gives up
        // paraphrases that add one ("... starter kept at room temperature"), see docs/cache.md.
        "How often do I need to feed a sourdough starter at room temperature?",
        json!({}),
    )
    .await;
    assert_eq!(
        cache_of(&paraphrase),
        (true, Some("l1"), Some("semantic")),
        "{paraphrase}"
    );
    assert_eq!(paraphrase["cache"]["original_query"], question);
    let similarity = paraphrase["cache"]["similarity"].as_f64().unwrap();
    assert!((0.8..1.0).contains(&similarity), "{similarity}");
    let chess = QUESTIONS[2].1;
    ask(&a.url, chess, json!({})).await;
    let chess_paraphrase = ask(
        &b.url,
        "Which opening in chess starts with the moves e4 c5?",
        json!({}),
    )
    .await;
    assert_eq!(
        cache_of(&chess_paraphrase),
        (true, Some("l2"), Some("semantic")),
        "{chess_paraphrase}"
    );

    // Anything that changes the answer is a miss.
    for change in [
        json!({ "k": 3 }),
        json!({ "method": "bm25" }),
        json!({ "filters": { "language": "en" } }),
    ] {
        let answer = ask(&b.url, question, change.clone()).await;
        assert!(!cache_of(&answer).0, "{change}: {answer}");
    }
    let other_model = ask(&c.url, question, json!({})).await;
    assert!(
        !cache_of(&other_model).0,
        "another generator: {other_model}"
    );

    // A streamed miss is stored; a streamed hit elsewhere replays the same events.
    let stream_question = QUESTIONS[3].1;
    let body = json!({ "query": stream_question, "collection": COLLECTION });
    let (status, original) = sse(&a.url, "/api/query/stream", &body).await;
    assert_eq!(status, 200);
    let (status, replayed) = sse(&b.url, "/api/query/stream", &body).await;
    assert_eq!(status, 200);
    let names = |events: &[(String, Value)]| events.iter().map(|e| e.0.clone()).collect::<Vec<_>>();
    assert_eq!(names(&replayed), names(&original));
    let tokens = |events: &[(String, Value)]| {
        events
            .iter()
            .filter(|e| e.0 == "token")
            .map(|e| e.1["text"].clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(tokens(&replayed), tokens(&original));
    assert_eq!(replayed[0].1, original[0].1, "same contexts");
    let done = &replayed.last().unwrap().1;
    assert_eq!(done["cache"]["tier"], "l2", "{done}");
    assert_eq!(done["answer"], original.last().unwrap().1["answer"]);

    // An ingest through A: B hears of it over pub/sub and neither serves the old answer.
    let (_, before) = get(&b.url, "/api/cache/stats").await;
    let invalidated_before = before["invalidations"].as_u64().unwrap();
    let extra = json!({ "documents": [{ "source": "feeding.md", "text": "Feed a sourdough starter twice a day when it is kept warm." }] });
    ingest(&a.url, &extra).await;
    wait_for_stats(&b.url, "B drops its old entries", |s| {
        s["invalidations"].as_u64().unwrap() > invalidated_before
    })
    .await;
    let after_b = ask(&b.url, question, json!({})).await;
    assert!(
        !cache_of(&after_b).0,
        "B served an answer from before the ingest: {after_b}"
    );
    let after_a = ask(&a.url, question, json!({})).await;
    assert_eq!(
        cache_of(&after_a),
        (true, Some("l2"), Some("exact")),
        "A may only reuse B's new answer: {after_a}"
    );

    // Runtime configuration: invalid values are 422 naming the field; valid ones apply.
    for bad in [
        json!({ "threshold": 1.5 }),
        json!({ "threshold": 0 }),
        json!({ "ttl_secs": 0 }),
        json!({ "l1_max_entries": 0 }),
    ] {
        let r = client()
            .put(format!("{}/api/cache/config", c.url))
            .json(&bad)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 422, "{bad}");
        let body: Value = r.json().await.unwrap();
        let field = bad.as_object().unwrap().keys().next().unwrap().clone();
        assert!(
            body["error"]["message"].as_str().unwrap().contains(&field),
            "{body}"
        );
    }
    let r = client()
        .put(format!("{}/api/cache/config", c.url))
        .json(&json!({ "threshold": 0.93, "l1_max_entries": 50 }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let (_, config) = get(&c.url, "/api/cache/config").await;
    assert_eq!(
        (
            config["threshold"].as_f64().unwrap() as f32,
            config["l1_max_entries"].as_u64()
        ),
        (0.93, Some(50))
    );
    let (status, cleared) = post(
        &b.url,
        "/api/cache/clear",
        &json!({ "collection": COLLECTION }),
    )
    .await;
    assert_eq!(
        (status, cleared["cleared"].as_str()),
        (200, Some(COLLECTION))
    );
    assert!(
        !cache_of(&ask(&b.url, question, json!({})).await).0,
        "cleared"
    );
    let (status, _) = post(&b.url, "/api/cache/clear", &json!({ "collection": "../x" })).await;
    assert_eq!(status, 400);
    let (_, stats) = get(&b.url, "/api/cache/stats").await;
    assert!(
        stats["hits"]["l2_exact"].as_u64().unwrap() >= 1 && stats["misses"].as_u64().unwrap() >= 4,
        "{stats}"
    );
    assert_eq!(stats["l2"]["state"], "closed", "{stats}");
    let (_, metrics) = get_text(&format!("{}/metrics", b.url)).await;
    for series in [
        "ragmesh_cache_hits_total",
        "ragmesh_cache_misses_total",
        "ragmesh_cache_stores_total",
    ] {
        assert!(metrics.contains(series), "{series} missing from /metrics");
    }
    drop((a, b, c));
    delete_redis_keys(&prefix);

    redis_outage(&backends).await;
}

/// Redis killed mid-run: no request fails; restarted: L2 hits resume, gateways untouched.
async fn redis_outage(backends: &Stack) {
    let mut redis = RedisServer::start();
    let url = redis.url();
    let e = gateway(backends, &url, "outage", &[]);
    let f = gateway(backends, &url, "outage", &[]);
    let question = QUESTIONS[0].1;
    ask(&e.url, question, json!({})).await;
    assert_eq!(
        cache_of(&ask(&f.url, question, json!({})).await).1,
        Some("l2")
    );

    redis.kill();
    // Every request still answers 200: from L1, or by running the pipeline.
    assert_eq!(
        cache_of(&ask(&f.url, question, json!({})).await).1,
        Some("l1")
    );
    assert_eq!(
        cache_of(&ask(&e.url, question, json!({})).await).1,
        Some("l1")
    );
    let during = ask(&e.url, QUESTIONS[2].1, json!({})).await;
    assert!(!cache_of(&during).0);
    let repeated = ask(&e.url, QUESTIONS[2].1, json!({})).await;
    assert_eq!(
        cache_of(&repeated).1,
        Some("l1"),
        "answers made during the outage are cached in L1"
    );
    let (_, stats) = get(&e.url, "/api/cache/stats").await;
    assert_ne!(stats["l2"]["state"], "closed", "{stats}");

    redis.restart();
    wait_for_stats(&e.url, "E reconnects", |s| s["l2"]["connected"] == true).await;
    wait_for_stats(&f.url, "F reconnects", |s| s["l2"]["connected"] == true).await;
    let after = QUESTIONS[3].1;
    assert!(!cache_of(&ask(&e.url, after, json!({})).await).0);
    let shared_again = ask(&f.url, after, json!({})).await;
    assert_eq!(
        cache_of(&shared_again),
        (true, Some("l2"), Some("exact")),
        "{shared_again}"
    );
    drop((e, f));
    redis.kill();
}
