//! Helpers shared by the end-to-end tests: the real `ragmesh` binary, the fixture corpus, and
//! small HTTP/SSE calls that return status and JSON so assertions stay one line.
#![allow(dead_code, clippy::unwrap_used)]

use ragmesh_testkit::RagmeshProcess;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

/// The `ragmesh` binary cargo built for these tests.
pub fn ragmesh_bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_ragmesh"))
}

/// Settings that keep end-to-end answers short, so tests spend little time decoding.
pub const FAST_GENERATION: &[(&str, &str)] = &[("RAGMESH__GENERATION__MAX_NEW_TOKENS", "48")];

/// `ragmesh up` on a free port over `data_dir`.
pub fn start_up(data_dir: &Path) -> RagmeshProcess {
    RagmeshProcess::up(ragmesh_bin(), data_dir, FAST_GENERATION)
}

/// (source, question answerable only from it) for every fixture document.
pub const QUESTIONS: &[(&str, &str)] = &[
    (
        "kilauea.md",
        "Which Hawaiian shield volcano had a lava lake in its summit crater?",
    ),
    (
        "sourdough.txt",
        "How often should a sourdough starter be fed at room temperature?",
    ),
    (
        "sicilian.md",
        "Which chess opening begins with the moves e4 c5?",
    ),
    (
        "ownership.txt",
        "What happens to a Rust value when its owner goes out of scope?",
    ),
];

pub fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/corpus")
}

/// The fixture corpus as the JSON ingest body.
pub fn corpus_documents() -> Value {
    let mut docs = Vec::new();
    for (source, _) in QUESTIONS {
        let text = std::fs::read_to_string(corpus_dir().join(source)).unwrap();
        docs.push(json!({ "source": source, "text": text, "metadata": { "language": "en" } }));
    }
    json!({ "documents": docs })
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(300))
        .build()
        .unwrap()
}

pub async fn post(base: &str, path: &str, body: &Value) -> (u16, Value) {
    let r = client()
        .post(format!("{base}{path}"))
        .json(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

pub async fn post_raw(base: &str, path: &str, content_type: &str, body: Vec<u8>) -> (u16, Value) {
    let r = client()
        .post(format!("{base}{path}"))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

pub async fn get(base: &str, path: &str) -> (u16, Value) {
    let r = client().get(format!("{base}{path}")).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// Polls `{base}/health/ready` until 200: every backend answers (model loading in a debug
/// build included, bounded at 300 s).
pub async fn wait_ready(base: &str) {
    let start = std::time::Instant::now();
    while get(base, "/health/ready").await.0 != 200 {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(300),
            "services never became ready"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// The Prometheus text a process exports at `{base}/metrics`.
pub async fn metrics_text(base: &str) -> String {
    let r = client()
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{base}/metrics: {}", r.status());
    r.text().await.unwrap()
}

pub async fn delete(base: &str, path: &str) -> (u16, Value) {
    let r = client()
        .delete(format!("{base}{path}"))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

pub async fn ingest_corpus(base: &str, collection: &str) -> Value {
    let (status, body) = post(
        base,
        &format!("/api/collections/{collection}/documents"),
        &corpus_documents(),
    )
    .await;
    assert_eq!(status, 200, "ingest failed: {body}");
    body
}

/// POST /api/retrieve and return the sources' (source, chunk) pairs in order.
pub async fn retrieve(
    base: &str,
    collection: &str,
    query: &str,
    method: &str,
) -> Vec<(String, u64)> {
    let body = json!({ "query": query, "collection": collection, "method": method, "k": 5 });
    let (status, answer) = post(base, "/api/retrieve", &body).await;
    assert_eq!(status, 200, "retrieve failed: {answer}");
    answer["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["source"].as_str().unwrap().to_string(),
                s["chunk"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// Chunk count of a collection from GET /api/collections.
pub async fn chunk_count(base: &str, collection: &str) -> u64 {
    let (status, body) = get(base, "/api/collections").await;
    assert_eq!(status, 200, "{body}");
    body["collections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == collection)
        .map(|c| c["chunks"].as_u64().unwrap())
        .unwrap_or(0)
}

/// Every `[n]` marker in `answer`.
pub fn citation_numbers(answer: &str) -> Vec<usize> {
    let mut out = Vec::new();
    let bytes = answer.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'[' {
            let rest = &answer[i + 1..];
            if let Some(end) = rest.find(']') {
                for part in rest[..end].split(',') {
                    if let Ok(n) = part.trim().parse::<usize>() {
                        out.push(n);
                    }
                }
            }
        }
        i += 1;
    }
    out
}

/// POST an SSE endpoint and collect (event, data) pairs until the stream ends.
pub async fn sse(base: &str, path: &str, body: &Value) -> (u16, Vec<(String, Value)>) {
    let r = client()
        .post(format!("{base}{path}"))
        .json(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    let mut events = Vec::new();
    for block in text.split("\n\n") {
        let mut event = String::from("message");
        let mut data = String::new();
        for line in block.lines() {
            if let Some(v) = line.strip_prefix("event:") {
                event = v.trim().to_string();
            } else if let Some(v) = line.strip_prefix("data:") {
                data.push_str(v.strip_prefix(' ').unwrap_or(v));
            }
        }
        if !data.is_empty() {
            events.push((
                event,
                serde_json::from_str(&data).unwrap_or(Value::String(data)),
            ));
        }
    }
    (status, events)
}
