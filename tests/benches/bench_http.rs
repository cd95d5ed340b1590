//! What the HTTP benchmark binaries share: the fixture corpus as one ingest body, a POST
//! that turns any non-2xx answer into an error carrying the gateway's message, and a pass of
//! concurrent cache-hit queries (checked by the `Cache-Status` header).

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::{Duration, Instant};

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
    let text = response.text().await?;
    if !status.is_success() {
        return Err(format!("{url}: {status} {text}").into());
    }
    Ok(serde_json::from_str(&text)?)
}

/// Latencies (ms) of `total` POSTs of `body` to `url` from `clients` concurrent clients, each
/// answer checked to be a cache hit of `kind` (`exact`/`semantic`) by its `Cache-Status`
/// header, and read to its last byte; and the pass's wall time. The header, not the JSON body,
/// is checked so that the client's own work per request (it shares the cores with the
/// servers it measures) does not grow with the size of the answer.
pub async fn hit_pass(
    url: &str,
    body: &Value,
    kind: &'static str,
    total: usize,
    clients: usize,
) -> BenchResult<(Vec<f64>, Duration)> {
    let started = Instant::now();
    let body = Bytes::from(serde_json::to_vec(body)?);
    let mut tasks = Vec::new();
    for worker in 0..clients {
        let share = total / clients + usize::from(worker < total % clients);
        let (url, body) = (url.to_string(), body.clone());
        tasks.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut samples = Vec::with_capacity(share);
            for _ in 0..share {
                let sent = Instant::now();
                let response = client
                    .post(&url)
                    .header(CONTENT_TYPE, "application/json")
                    .body(body.clone())
                    .send()
                    .await?;
                let status = response.status();
                let cache = response
                    .headers()
                    .get("cache-status")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_string();
                let answer = response.bytes().await?;
                samples.push(sent.elapsed().as_secs_f64() * 1000.0);
                if !status.is_success() || !is_hit(&cache, kind) {
                    return Err(format!(
                        "expected a {kind} hit: {status}, Cache-Status {cache:?}, {}",
                        String::from_utf8_lossy(&answer)
                    )
                    .into());
                }
            }
            BenchResult::Ok(samples)
        }));
    }
    let mut all = Vec::with_capacity(total);
    for task in tasks {
        all.extend(task.await??);
    }
    Ok((all, started.elapsed()))
}

/// Whether a `Cache-Status` header value says "a hit of `kind`" (`ragmesh; hit; detail=l1-exact`).
fn is_hit(cache_status: &str, kind: &str) -> bool {
    let mut params = cache_status.split(';').map(str::trim);
    params.next() == Some("ragmesh")
        && params.any(|p| p == "hit")
        && cache_status.trim_end().ends_with(&format!("-{kind}"))
}

/// Waits (at most 30 s) until `{base}/health/ready` answers 200: a load balancer routes only
/// to upstreams that passed a health check.
pub async fn wait_ready(base: &str) -> BenchResult<()> {
    let started = Instant::now();
    loop {
        if let Ok(r) = reqwest::get(format!("{base}/health/ready")).await
            && r.status().is_success()
        {
            return Ok(());
        }
        if started.elapsed() > Duration::from_secs(30) {
            return Err(format!("{base} not ready after 30 s").into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
