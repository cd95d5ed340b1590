//! Resilient calls between real service processes: a stalled backend (SIGSTOP) makes calls
//! hit their deadline, then opens the breaker so callers get a fast 503 naming it, and the
//! breaker closes again when the backend returns; a second instance takes over retried calls
//! when the first is down; a service at its concurrency limit sheds calls at once (429 with
//! Retry-After) and serves again after; a generation service killed mid-answer ends the SSE
//! stream with an `error` event; a client that closes its SSE stream stops token generation.

#![allow(clippy::print_stdout)]

use crate::support::*;
use futures::StreamExt;
use ragmesh_cli::http_client::parse_sse_block;
use ragmesh_testkit::{CLOSED_URL, Topology, machine};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// The value of the first `/metrics` sample whose line starts with `name` and contains every
/// label in `labels` (0 when absent).
async fn metric(base: &str, name: &str, labels: &[&str]) -> f64 {
    let text = metrics_text(base).await;
    text.lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
        .find(|l| labels.iter().all(|label| l.contains(label)))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

/// An open `/api/query/stream` response, read one event at a time.
struct SseReader {
    body: futures::stream::BoxStream<'static, reqwest::Result<Vec<u8>>>,
    buffer: String,
}

impl SseReader {
    async fn open(base: &str, body: &Value) -> SseReader {
        let response = client()
            .post(format!("{base}/api/query/stream"))
            .json(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        SseReader {
            body: response
                .bytes_stream()
                .map(|r| r.map(|b| b.to_vec()))
                .boxed(),
            buffer: String::new(),
        }
    }

    /// The next (event, data) pair, skipping keep-alive comments; None at the end.
    async fn next_event(&mut self) -> Option<(String, Value)> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                match parse_sse_block(&block) {
                    Some(event) => return Some((event.event, event.data)),
                    None => continue,
                }
            }
            let chunk = self.body.next().await?.unwrap();
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

    /// Reads until the first `token` event (after `contexts`).
    async fn until_first_token(&mut self) {
        let (first, _) = self.next_event().await.unwrap();
        assert_eq!(first, "contexts");
        let (second, data) = self.next_event().await.unwrap();
        assert_eq!(second, "token", "{data}");
    }
}

fn long_answer(collection: &str) -> Value {
    json!({
        "query": "Write a very long and detailed essay about every topic in these documents.",
        "collection": collection,
        "max_new_tokens": 400,
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stalled_backend_opens_the_breaker_and_a_second_instance_takes_retries() {
    let _machine = machine::shared().await;
    // Generation is not needed here: the topology leaves it out (a closed port).
    let stack = Topology::new(ragmesh_bin())
        .retrieval(&[])
        .rerank(&[])
        .gateway(&[
            ("RAGMESH__GATEWAY__RPC_TIMEOUT_MS", "400"),
            ("RAGMESH__GATEWAY__GENERATE_TIMEOUT_MS", "120000"),
            ("RAGMESH__RPC__BREAKER__OPEN_MS", "1500"),
        ])
        .spawn();
    // A second gateway whose first retrieval instance is a closed port.
    let retrieval_urls = format!("{CLOSED_URL},{}", stack.retrieval_url());
    let failover = stack.add_gateway(&[("RAGMESH__GATEWAY__RETRIEVAL_URL", &retrieval_urls)]);
    let base = stack.url().to_string();
    let retrieval = &stack.retrieval[0][0];
    let query = json!({ "query": QUESTIONS[0].1, "collection": "stall", "k": 2 });

    // Ingest can take a while on a loaded machine: retry only while the model still loads.
    stack.wait_ready().await;
    ingest_corpus(&base, "stall").await;

    // Retries: every call through the gateway with a dead first instance still succeeds.
    for _ in 0..4 {
        let (status, body) = post(&failover.url, "/api/retrieve", &query).await;
        assert_eq!(status, 200, "{body}");
    }
    // The first call found the dead instance and was retried on the live one; the dead one
    // was then ejected, so the other calls went straight to the live instance.
    let retries = metric(
        &failover.url,
        "ragmesh_backend_retries_total",
        &["backend=\"retrieval\""],
    )
    .await;
    assert!(
        (1.0..=2.0).contains(&retries),
        "the first call was retried on the live instance, not every other call: {retries}"
    );
    assert!(
        metric(
            &failover.url,
            "ragmesh_backend_ejections_total",
            &["backend=\"retrieval\""]
        )
        .await
            >= 1.0,
        "the dead instance was ejected"
    );
    let (_, ready) = get(&failover.url, "/health/ready").await;
    assert_eq!(ready["breakers"]["retrieval"], "closed", "{ready}");

    // Stall: five calls hit the deadline, then the breaker answers by itself.
    retrieval.pause();
    for i in 0..5 {
        let (status, body) = post(&base, "/api/retrieve", &query).await;
        assert_eq!(status, 504, "call {i}: {body}");
        assert_eq!(body["error"]["code"], "deadline_exceeded", "{body}");
    }
    let response = client()
        .post(format!("{base}/api/retrieve"))
        .json(&query)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry_after), "{retry_after}");
    let body: Value = response.json().await.unwrap();
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("retrieval service unavailable: circuit breaker open after 5"),
        "{message}"
    );
    let (status, ready) = get(&base, "/health/ready").await;
    assert_eq!(status, 503, "{ready}");
    assert_eq!(ready["breakers"]["retrieval"], "open", "{ready}");
    assert_eq!(ready["breakers"]["rerank"], "closed", "{ready}");
    assert_eq!(
        metric(&base, "ragmesh_breaker_state", &["backend=\"retrieval\""]).await,
        2.0
    );

    // The backend returns: after the open time, trial calls succeed and close the breaker.
    retrieval.resume();
    let start = Instant::now();
    loop {
        let (status, body) = post(&base, "/api/retrieve", &query).await;
        if status == 200 {
            break;
        }
        assert_eq!(status, 503, "{body}");
        assert!(start.elapsed() < Duration::from_secs(60), "never recovered");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (status, body) = post(&base, "/api/retrieve", &query).await;
    assert_eq!(status, 200, "{body}");
    let (_, ready) = get(&base, "/health/ready").await;
    assert_eq!(ready["breakers"]["retrieval"], "closed", "{ready}");
    assert_eq!(
        metric(&base, "ragmesh_breaker_state", &["backend=\"retrieval\""]).await,
        0.0
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn overload_is_shed_at_once_and_a_killed_generation_ends_the_stream_with_an_error() {
    let _machine = machine::shared().await;
    let mut stack = Topology::new(ragmesh_bin())
        .retrieval(&[])
        .rerank(&[])
        .generation(&[("RAGMESH__RPC__MAX_CONCURRENT__GENERATION", "1")])
        .gateway(&[])
        .start()
        .await;
    let base = stack.url().to_string();
    ingest_corpus(&base, "load").await;

    // One streamed answer holds generation's only slot from the moment the call is accepted
    // (before `contexts` is sent) until its stream ends: the prompt pass alone takes seconds.
    let mut held = SseReader::open(&base, &long_answer("load")).await;
    assert_eq!(held.next_event().await.unwrap().0, "contexts");
    let response = client()
        .post(format!("{base}/api/query"))
        .json(&json!({ "query": QUESTIONS[1].1, "collection": "load" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["retry-after"], "1");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "resource_exhausted", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("generation service is overloaded"),
        "{body}"
    );
    // Health is never shed, and a shed call does not count against the breaker.
    let (status, ready) = get(&base, "/health/ready").await;
    assert_eq!(status, 200, "{ready}");
    assert_eq!(ready["breakers"]["generation"], "closed", "{ready}");

    // The client goes away: its slot is freed and the next answer is served.
    drop(held);
    let start = Instant::now();
    loop {
        let (status, body) = post(
            &base,
            "/api/query",
            &json!({ "query": QUESTIONS[1].1, "collection": "load", "max_new_tokens": 8 }),
        )
        .await;
        if status == 200 {
            break;
        }
        assert_eq!(status, 429, "{body}");
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "slot never freed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Kill generation in the middle of an answer: the stream ends with an error event.
    let mut answer = SseReader::open(&base, &long_answer("load")).await;
    answer.until_first_token().await;
    stack.generation.as_mut().unwrap().kill();
    let mut last = None;
    while let Some(event) = answer.next_event().await {
        last = Some(event);
    }
    let (event, data) = last.unwrap();
    assert_eq!(event, "error", "{data}");
    assert_eq!(data["code"], "unavailable", "{data}");
    assert!(
        data["message"]
            .as_str()
            .unwrap()
            .starts_with("generation service"),
        "{data}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn closing_the_sse_stream_stops_token_generation() {
    let _machine = machine::shared().await;
    let data = tempfile::tempdir().unwrap();
    let up = ragmesh_testkit::RagmeshProcess::up(ragmesh_bin(), data.path(), &[]);
    let base = up.url.clone();
    ingest_corpus(&base, "cancel").await;
    let cancelled = ["service=\"generation\"", "code=\"cancelled\""];
    let cancelled_before = metric(&base, "ragmesh_rpc_requests_total", &cancelled).await;
    let before = metric(&base, "ragmesh_generation_tokens_total", &[]).await;

    let mut answer = SseReader::open(&base, &long_answer("cancel")).await;
    answer.until_first_token().await;
    let mut received = 1;
    while received < 3 {
        let (event, data) = answer.next_event().await.unwrap();
        assert_eq!(event, "token", "ended before the client left: {data}");
        received += 1;
    }
    drop(answer);

    // Wait (no timing assertion) until the decoding job has ended, then count its tokens.
    let start = Instant::now();
    while metric(&base, "ragmesh_generation_decodes_active", &[]).await > 0.0
        || metric(&base, "ragmesh_rpc_requests_total", &cancelled).await == cancelled_before
    {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "generation did not stop after the client left"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let decoded = metric(&base, "ragmesh_generation_tokens_total", &[]).await - before;
    println!("tokens decoded for the abandoned answer: {decoded} (3 sent to the client)");
    assert!(
        decoded < 60.0,
        "decoding stopped long before the 400-token cap: {decoded} tokens"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        metric(&base, "ragmesh_generation_tokens_total", &[]).await - before,
        decoded,
        "no token is decoded after the stream was dropped"
    );
}
