//! Helpers the end-to-end modules share: the real `ragmesh` binary, the fixture corpus, and
//! small HTTP/SSE calls that return status and JSON so assertions stay one line. Server-Sent
//! Events are parsed by the CLI's own parser (`ragmesh_cli::http_client::parse_sse_block`),
//! the one `ragmesh query --stream` uses. Processes are started by `ragmesh_testkit`.

use ragmesh_cli::http_client::parse_sse_block;
use ragmesh_testkit::RagmeshProcess;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

/// The `ragmesh` binary cargo built for these tests.
pub fn ragmesh_bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_ragmesh"))
}

/// Runs `ragmesh ARGS` to the end; whether it succeeded, and its stdout and stderr.
pub fn run_ragmesh<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> (bool, String) {
    let out = std::process::Command::new(ragmesh_bin())
        .args(args)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
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

/// The repository root (the root package's manifest directory).
pub fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

pub fn corpus_dir() -> PathBuf {
    repo().join("tests/fixtures/corpus")
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

/// Sends `request`; status and JSON body of the response (Null when the body is not JSON).
async fn status_and_json(request: reqwest::RequestBuilder) -> (u16, Value) {
    let r = request.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn post_json(base: &str, path: &str, body: &Value) -> reqwest::RequestBuilder {
    client().post(format!("{base}{path}")).json(body)
}

pub async fn post(base: &str, path: &str, body: &Value) -> (u16, Value) {
    status_and_json(post_json(base, path, body)).await
}

pub async fn post_raw(base: &str, path: &str, content_type: &str, body: Vec<u8>) -> (u16, Value) {
    let request = client()
        .post(format!("{base}{path}"))
        .header("content-type", content_type)
        .body(body);
    status_and_json(request).await
}

pub async fn get(base: &str, path: &str) -> (u16, Value) {
    status_and_json(client().get(format!("{base}{path}"))).await
}

pub async fn delete(base: &str, path: &str) -> (u16, Value) {
    status_and_json(client().delete(format!("{base}{path}"))).await
}

/// Status and text body of `GET url`.
pub async fn get_text(url: &str) -> (u16, String) {
    let r = client().get(url).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// The Prometheus text a process exports at `{base}/metrics`.
pub async fn metrics_text(base: &str) -> String {
    let (status, text) = get_text(&format!("{base}/metrics")).await;
    assert_eq!(status, 200, "{base}/metrics: {status}");
    text
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

/// Uploads a multipart `form` of files into `collection`.
pub async fn upload(base: &str, collection: &str, form: reqwest::multipart::Form) -> (u16, Value) {
    let request = client()
        .post(format!("{base}/api/collections/{collection}/documents"))
        .multipart(form);
    status_and_json(request).await
}

/// Names of the steps in an answer's `profile`.
pub fn step_names(answer: &Value) -> Vec<&str> {
    answer["profile"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect()
}

/// The documents GET /api/collections/{collection}/documents lists.
pub async fn documents(base: &str, collection: &str) -> Vec<Value> {
    let (status, body) = get(base, &format!("/api/collections/{collection}/documents")).await;
    assert_eq!(status, 200, "{body}");
    body["documents"].as_array().unwrap().clone()
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
    let r = post_json(base, path, body).send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    let events = text
        .split("\n\n")
        .filter_map(parse_sse_block)
        .map(|e| (e.event, e.data))
        .collect();
    (status, events)
}
