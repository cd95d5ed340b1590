//! A cache hit through the whole HTTP path, beside a cold query in the same run: the release
//! `ragmesh up` (L1 only, as on a laptop) over the test fixtures. Cold queries (distinct
//! questions, each a miss: embed, retrieve, generate) are the baseline; then the same question
//! is sent again and again by several concurrent clients (L1 exact hits: no embedding) and a
//! paraphrase of it likewise (L1 semantic hits: one Embed call each). Prints a Markdown section
//! for docs/benchmarks.md with p50/p99 and requests/s. A benchmark, not a test: it fails only
//! when a request fails or a hit is not a hit.
//!
//! `cargo bench --bench cache_hit_query`; `RAGMESH_BENCH_HITS=N` requests per hit pass
//! (default 2000), `RAGMESH_BENCH_CLIENTS=N` concurrent clients (default 4).
#![allow(clippy::print_stdout)]

#[allow(dead_code)] // wait_ready serves cluster_scaling
mod bench_http;
#[allow(dead_code)] // shared with query_latency, which uses the sample tables
mod latency_report;

use bench_http::{BenchResult, corpus, hit_pass, post};
use latency_report::{Machine, env_count, load_average, percentile};
use ragmesh_testkit::RagmeshProcess;
use serde_json::{Value, json};
use std::path::Path;
use std::time::{Duration, Instant};

const COLLECTION: &str = "cachebench";
const QUESTION: &str = "How often should a sourdough starter be fed at room temperature?";
const PARAPHRASE: &str =
    "How often do I need to feed a sourdough starter kept at room temperature?";
const COLD: [&str; 3] = [
    "Which Hawaiian shield volcano had a lava lake in its summit crater?",
    "Which chess opening begins with the moves e4 c5?",
    "What happens to a Rust value when its owner goes out of scope?",
];

fn query(question: &str) -> Value {
    json!({ "query": question, "collection": COLLECTION })
}

fn row(pass: &str, samples: &[f64], wall: Duration) -> String {
    let p = |q| percentile(samples, q).map_or("-".into(), |v| format!("{v:.2}"));
    let rate = samples.len() as f64 / wall.as_secs_f64();
    let rate = if rate < 10.0 {
        format!("{rate:.2}")
    } else {
        format!("{rate:.0}")
    };
    format!(
        "| {pass} | {} | {} | {} | {rate} |",
        samples.len(),
        p(50.0),
        p(99.0),
    )
}

fn main() -> BenchResult<()> {
    let smoke = !std::env::args().any(|a| a == "--bench");
    let hits = env_count("RAGMESH_BENCH_HITS", if smoke { 20 } else { 2000 })?;
    let clients = env_count("RAGMESH_BENCH_CLIENTS", 4)?;
    let machine = Machine::detect();
    let load_before = load_average();
    let data_dir = tempfile::tempdir()?;
    let process = RagmeshProcess::up(
        Path::new(env!("CARGO_BIN_EXE_ragmesh")),
        data_dir.path(),
        &[],
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let base = process.url.clone();
    let measured = runtime.block_on(async {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(600))
            .build()?;
        post(
            &client,
            &format!("{base}/api/collections/{COLLECTION}/documents"),
            &corpus()?,
        )
        .await?;
        // Cold baseline: every question a miss (the first also pays first-use costs, so it
        // is answered once before the clock starts and not counted).
        post(&client, &format!("{base}/api/query"), &query(QUESTION)).await?;
        let mut cold = Vec::new();
        let cold_started = Instant::now();
        for question in COLD {
            let sent = Instant::now();
            let answer = post(&client, &format!("{base}/api/query"), &query(question)).await?;
            if answer["cache"]["hit"] != false {
                return Err(format!("cold query was a hit: {}", answer["cache"]).into());
            }
            cold.push(sent.elapsed().as_secs_f64() * 1000.0);
        }
        let cold_wall = cold_started.elapsed();
        let url = format!("{base}/api/query");
        let exact = hit_pass(&url, &query(QUESTION), "exact", hits, clients).await?;
        let semantic = hit_pass(&url, &query(PARAPHRASE), "semantic", hits / 4, clients).await?;
        BenchResult::Ok((cold, cold_wall, exact, semantic))
    });
    let (cold, cold_wall, exact, semantic) = measured.inspect_err(|_| {
        eprintln!("ragmesh log tail:\n{}", process.log_tail());
    })?;
    drop(process);

    println!("### Cache hit vs cold query over HTTP (`ragmesh up`, L1)\n");
    println!(
        "{}",
        machine.run_line(
            "cache_hit_query",
            &load_before,
            &format!("{clients} concurrent clients for the hit passes")
        )
    );
    println!("| pass | requests | p50 ms | p99 ms | requests/s |");
    println!("|---|---|---|---|---|");
    println!(
        "{}",
        row(
            "cold query (miss: embed, retrieve, generate), 1 client",
            &cold,
            cold_wall
        )
    );
    println!("{}", row("L1 exact hit (no embedding)", &exact.0, exact.1));
    println!(
        "{}",
        row("L1 semantic hit (one Embed call)", &semantic.0, semantic.1)
    );
    Ok(())
}
