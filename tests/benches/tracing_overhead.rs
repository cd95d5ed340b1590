//! What exporting traces costs a query: `ragmesh up` over the fixtures, once with tracing off
//! (the default) and once exporting every span (sampling 1.0) to an in-process OTLP
//! collector, each measured on cold queries (miss: embed, retrieve, generate) and on L1 exact
//! cache hits. Prints a Markdown section for docs/benchmarks.md with p50/p99 per pass and the
//! spans the collector received. A benchmark, not a test: it fails only when a request fails,
//! a hit is not a hit, or tracing on delivered no span.
//!
//! `cargo bench --bench tracing_overhead`; `RAGMESH_BENCH_HITS=N` cache hits per mode
//! (default 1000). Without `--bench` (as `cargo test --benches` runs it) it does a short smoke
//! pass.
#![allow(clippy::print_stdout)]

#[allow(dead_code)] // hit_pass and wait_ready serve the cache and cluster benchmarks
mod bench_http;
#[allow(dead_code)] // shared with query_latency, which uses the sample tables
mod latency_report;

use bench_http::{BenchResult, corpus, post};
use latency_report::{Machine, env_count, load_average, percentile};
use ragmesh_testkit::{OtlpReceiver, RagmeshProcess};
use serde_json::{Value, json};
use std::path::Path;
use std::time::{Duration, Instant};

const COLLECTION: &str = "tracebench";
const HIT: &str = "How often should a sourdough starter be fed at room temperature?";
const COLD: [&str; 3] = [
    "Which Hawaiian shield volcano had a lava lake in its summit crater?",
    "Which chess opening begins with the moves e4 c5?",
    "What happens to a Rust value when its owner goes out of scope?",
];

/// Milliseconds of each pass in one mode.
struct Samples {
    cold: Vec<f64>,
    hits: Vec<f64>,
}

fn query(question: &str) -> Value {
    json!({ "query": question, "collection": COLLECTION })
}

/// One mode: a fresh `ragmesh up` with `env`, ingest, the cold pass, then `hits` cache hits.
async fn measure(env: &[(&str, &str)], hits: usize) -> BenchResult<Samples> {
    let data_dir = tempfile::tempdir()?;
    let mut process = RagmeshProcess::up(
        Path::new(env!("CARGO_BIN_EXE_ragmesh")),
        data_dir.path(),
        env,
    );
    let base = process.url.clone();
    let run = async {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(600))
            .build()?;
        let url = format!("{base}/api/query");
        post(
            &client,
            &format!("{base}/api/collections/{COLLECTION}/documents"),
            &corpus()?,
        )
        .await?;
        // First-use costs are paid by this query (it also fills the cache for the hit pass).
        post(&client, &url, &query(HIT)).await?;
        let mut cold = Vec::new();
        for question in COLD {
            let sent = Instant::now();
            let answer = post(&client, &url, &query(question)).await?;
            cold.push(sent.elapsed().as_secs_f64() * 1000.0);
            if answer["cache"]["hit"] != false {
                return Err(format!("cold query was a hit: {}", answer["cache"]).into());
            }
        }
        let mut hit_samples = Vec::with_capacity(hits);
        for _ in 0..hits {
            let sent = Instant::now();
            let answer = post(&client, &url, &query(HIT)).await?;
            hit_samples.push(sent.elapsed().as_secs_f64() * 1000.0);
            if answer["cache"]["hit"] != true {
                return Err(format!("expected a hit: {}", answer["cache"]).into());
            }
        }
        BenchResult::Ok(Samples {
            cold,
            hits: hit_samples,
        })
    };
    let samples = run.await.inspect_err(|_| {
        eprintln!("ragmesh log tail:\n{}", process.log_tail());
    })?;
    // SIGTERM: the process exports the spans still queued before it exits.
    process.stop(Duration::from_secs(15));
    Ok(samples)
}

fn row(pass: &str, samples: &[f64]) -> String {
    let p = |q| percentile(samples, q).map_or("-".into(), |v| format!("{v:.2}"));
    format!("| {pass} | {} | {} | {} |", samples.len(), p(50.0), p(99.0))
}

fn main() -> BenchResult<()> {
    let smoke = !std::env::args().any(|a| a == "--bench");
    let hits = env_count("RAGMESH_BENCH_HITS", if smoke { 20 } else { 1000 })?;
    let machine = Machine::detect();
    let load_before = load_average();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let (off, on, spans) = runtime.block_on(async {
        let fast = ("RAGMESH__GENERATION__MAX_NEW_TOKENS", "48");
        let off = measure(&[fast], hits).await?;
        let receiver = OtlpReceiver::start().await;
        let on = measure(
            &[
                fast,
                (
                    "RAGMESH__TELEMETRY__OTLP_ENDPOINT",
                    receiver.endpoint.as_str(),
                ),
                ("RAGMESH__TELEMETRY__SAMPLING_RATIO", "1.0"),
            ],
            hits,
        )
        .await?;
        // Every span of the run: the process flushed its queue when it stopped.
        let spans = receiver.spans().len();
        BenchResult::Ok((off, on, spans))
    })?;
    if spans == 0 {
        return Err("tracing on delivered no span to the collector".into());
    }

    println!("### Tracing overhead (`ragmesh up`, L1 cache, OTLP to an in-process collector)\n");
    println!(
        "{}",
        machine.run_line(
            "tracing_overhead",
            &load_before,
            &format!("one client · {spans} spans received with tracing on")
        )
    );
    println!("| pass | requests | p50 ms | p99 ms |");
    println!("|---|---|---|---|");
    println!("{}", row("cold query, tracing off", &off.cold));
    println!("{}", row("cold query, tracing on (100 %)", &on.cold));
    println!("{}", row("L1 exact hit, tracing off", &off.hits));
    println!("{}", row("L1 exact hit, tracing on (100 %)", &on.hits));
    Ok(())
}
