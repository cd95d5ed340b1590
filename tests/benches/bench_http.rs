//! What the HTTP benchmark binaries share: the fixture corpus as one ingest body, and a POST
//! that turns any non-2xx answer into an error carrying the gateway's message.

use serde_json::{Value, json};
use std::path::PathBuf;

pub type BenchResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// Every file of tests/fixtures/corpus as `{"documents":[{"source","text"}]}`.
pub fn corpus() -> BenchResult<Value> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/corpus");
    let mut documents = Vec::new();
    for entry in std::fs::read_dir(&dir)? {
        let path = entry?.path();
        let source = path
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or("fixture without a name")?
            .to_string();
        documents.push(json!({ "source": source, "text": std::fs::read_to_string(&path)? }));
    }
    Ok(json!({ "documents": documents }))
}

/// POSTs `body` as JSON and returns the JSON answer; a non-2xx status is an error.
pub async fn post(client: &reqwest::Client, url: &str, body: &Value) -> BenchResult<Value> {
    let response = client.post(url).json(body).send().await?;
    let status = response.status();
    let answer: Value = response.json().await?;
    if !status.is_success() {
        return Err(format!("{url}: {status} {answer}").into());
    }
    Ok(answer)
}
