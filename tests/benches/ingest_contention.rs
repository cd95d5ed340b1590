//! Query latency while a bulk ingest runs (issue 3 §3: "ingest runs embedding in batches on its
//! own thread pool so concurrent queries stay fast"), and the ingest throughput of real
//! documents end to end. The release `ragmesh up` holds the fixture corpus; one client asks
//! retrieval queries (`/api/retrieve`, hybrid, k = 5, so each pays a query embedding) over and
//! over, first with nothing else running (the baseline of the same run), then while a second
//! client ingests BEIR documents (`title + " " + text`, batches of 64, the JSON API the eval
//! harness uses) into another collection, then idle again. It prints a Markdown section for
//! docs/benchmarks.md; it fails only when a request fails.
//!
//! `cargo bench --bench ingest_contention`. `RAGMESH_BENCH_BEIR=DIR` (default
//! `../shared/eval/scifact`) is the BEIR folder whose `corpus.jsonl` is ingested,
//! `RAGMESH_BENCH_INGEST_DOCS=N` (default 640) how many of its documents,
//! `RAGMESH_BENCH_QUERIES=N` (default 60) the baseline passes' length.
//! Without `--bench` (`cargo test --benches`) a smoke run ingests the fixture corpus instead.
#![allow(clippy::print_stdout)]

#[allow(dead_code)] // hit_pass and wait_ready serve the cache benches
mod bench_http;
mod bench_questions;
#[allow(dead_code)] // the profile tables serve query_latency
mod latency_report;

use bench_http::{BenchResult, corpus, post};
use latency_report::{Machine, env_count, percentile};
use ragmesh_testkit::RagmeshProcess;
use serde_json::{Value, json};
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const QUERY_COLLECTION: &str = "bench";
const INGEST_COLLECTION: &str = "bulk";
const BATCH: usize = 64;

fn main() -> BenchResult<()> {
    let smoke = !std::env::args().any(|a| a == "--bench");
    let queries = env_count("RAGMESH_BENCH_QUERIES", if smoke { 3 } else { 60 })?;
    let limit = env_count("RAGMESH_BENCH_INGEST_DOCS", 640)?;
    let beir = std::env::var("RAGMESH_BENCH_BEIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/eval/scifact"));
    let documents = if smoke {
        corpus()?["documents"]
            .as_array()
            .cloned()
            .ok_or("fixture corpus without documents")?
    } else {
        beir_documents(&beir.join("corpus.jsonl"), limit)?
    };
    let machine = Machine::detect();
    let load_before = latency_report::load_average();

    let data_dir = tempfile::tempdir()?;
    let bin = Path::new(env!("CARGO_BIN_EXE_ragmesh"));
    let process = RagmeshProcess::up(bin, data_dir.path(), &[]);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let measured = runtime
        .block_on(measure(&process.url, documents, queries))
        .inspect_err(|_| eprintln!("ragmesh log tail:\n{}", process.log_tail()))?;
    drop(process);

    let details = format!(
        "release `ragmesh up` (all four services, real gRPC), 1 query client + 1 ingest client; \
         ingest corpus {}",
        if smoke {
            "tests/fixtures/corpus (smoke run)".to_string()
        } else {
            format!(
                "first {} documents of {}",
                measured.documents,
                beir.display()
            )
        }
    );
    println!("### Query latency during a bulk ingest\n");
    println!(
        "{}",
        machine.run_line("ingest_contention", &load_before, &details)
    );
    println!("| pass | queries | p50 ms | p95 ms | p99 ms | max ms |");
    println!("|---|---|---|---|---|---|");
    for (name, samples) in [
        ("idle, before the ingest", &measured.before),
        ("during the bulk ingest", &measured.during),
        ("idle, after the ingest", &measured.after),
    ] {
        let p = |q| percentile(samples, q).map_or("-".into(), |v| format!("{v:.1}"));
        println!(
            "| {name} | {} | {} | {} | {} | {} |",
            samples.len(),
            p(50.0),
            p(95.0),
            p(99.0),
            p(100.0)
        );
    }
    println!(
        "\nIngest: {} documents → {} chunks in {:.1} s = {:.2} documents/s, {:.1} chunks/s \
         (batches of {BATCH}, each acknowledged once durable).",
        measured.documents,
        measured.chunks,
        measured.ingest_s,
        measured.documents as f64 / measured.ingest_s,
        measured.chunks as f64 / measured.ingest_s
    );
    Ok(())
}

struct Measured {
    before: Vec<f64>,
    during: Vec<f64>,
    after: Vec<f64>,
    documents: usize,
    chunks: u64,
    ingest_s: f64,
}

async fn measure(base: &str, documents: Vec<Value>, queries: usize) -> BenchResult<Measured> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(600))
        .build()?;
    post(
        &client,
        &format!("{base}/api/collections/{QUERY_COLLECTION}/documents"),
        &corpus()?,
    )
    .await?;
    let stop_after = |n: usize| move |done: usize| done >= n;
    let before = query_loop(&client, base, &AtomicBool::new(false), stop_after(queries)).await?;

    let ingesting = Arc::new(AtomicBool::new(true));
    let ingest = tokio::spawn(bulk_ingest(
        client.clone(),
        base.to_string(),
        documents,
        Arc::clone(&ingesting),
    ));
    // Until the ingest ends (the flag), however many queries that takes.
    let during = query_loop(&client, base, &ingesting, |_| false).await;
    let (documents, chunks, ingest_s) = ingest.await??;
    let during = during?;

    let after = query_loop(&client, base, &AtomicBool::new(false), stop_after(queries)).await?;
    Ok(Measured {
        before,
        during,
        after,
        documents,
        chunks,
        ingest_s,
    })
}

/// Retrieval queries one after another, cycling through the bench questions, until `done`
/// says so or `running` turns false (when `running` starts true); client latencies in ms.
async fn query_loop(
    client: &reqwest::Client,
    base: &str,
    running: &AtomicBool,
    done: impl Fn(usize) -> bool,
) -> BenchResult<Vec<f64>> {
    let watch = running.load(Ordering::SeqCst);
    let url = format!("{base}/api/retrieve");
    let mut samples = Vec::new();
    for (question, _) in bench_questions::QUESTIONS.iter().cycle() {
        if done(samples.len()) || (watch && !running.load(Ordering::SeqCst)) {
            break;
        }
        let body = json!({ "query": question, "collection": QUERY_COLLECTION, "k": 5 });
        let sent = Instant::now();
        let answer = post(client, &url, &body).await?;
        let ms = sent.elapsed().as_secs_f64() * 1000.0;
        if samples.iter().all(|&earlier| ms > earlier) && ms > 1000.0 {
            // Where the slowest query spent its time, from the gateway's own profile.
            eprintln!("slow query ({ms:.0} ms): {}", answer["profile"]);
        }
        samples.push(ms);
        if answer["sources"].as_array().is_none_or(Vec::is_empty) {
            return Err(format!("no sources for {question:?}: {answer}").into());
        }
    }
    Ok(samples)
}

/// Ingests `documents` in batches; returns (documents, chunks added, seconds).
async fn bulk_ingest(
    client: reqwest::Client,
    base: String,
    documents: Vec<Value>,
    running: Arc<AtomicBool>,
) -> BenchResult<(usize, u64, f64)> {
    let url = format!("{base}/api/collections/{INGEST_COLLECTION}/documents");
    let started = Instant::now();
    let mut chunks = 0;
    let result = async {
        for batch in documents.chunks(BATCH) {
            let answer = post(&client, &url, &json!({ "documents": batch })).await?;
            chunks += answer["chunks_added"]
                .as_u64()
                .ok_or("ingest answer without chunks_added")?;
        }
        BenchResult::Ok(())
    }
    .await;
    running.store(false, Ordering::SeqCst);
    result?;
    Ok((documents.len(), chunks, started.elapsed().as_secs_f64()))
}

/// The first `limit` documents of a BEIR `corpus.jsonl`, as the eval harness sends them.
fn beir_documents(path: &Path, limit: usize) -> BenchResult<Vec<Value>> {
    let file = std::fs::File::open(path).map_err(|e| {
        format!(
            "{}: {e} (set RAGMESH_BENCH_BEIR to a BEIR folder)",
            path.display()
        )
    })?;
    let mut documents = Vec::new();
    for line in std::io::BufReader::new(file).lines().take(limit) {
        let record: Value = serde_json::from_str(&line?)?;
        let field = |name: &str| record[name].as_str().unwrap_or_default().to_string();
        documents.push(json!({
            "source": field("_id"),
            "text": format!("{} {}", field("title"), field("text")),
        }));
    }
    Ok(documents)
}
