//! End-to-end query latency of the real product: the release `ragmesh up` (four services, real
//! gRPC between them) over the project's own docs plus the test fixtures, measured through the
//! public HTTP API with the per-step profile the gateway returns. It prints a Markdown section
//! for docs/benchmarks.md. A benchmark, not a test: it fails only when a request fails.
//!
//! `cargo bench --bench query_latency`; `RAGMESH_BENCH_QUESTIONS=N` uses the first N questions,
//! `RAGMESH_BENCH_ROUNDS=N` repeats the retrieval pass N times (the generation passes run once).
//! Without `--bench` (e.g. `cargo test --benches`) it runs one question once as a smoke check.
#![allow(clippy::print_stdout)]

mod bench_questions;
#[allow(dead_code)] // run_line serves the HTTP benchmarks, which print their own header
mod latency_report;

use bench_questions::QUESTIONS;
use latency_report::{GenerationSamples, Machine, StepSamples, env_count};
use ragmesh_testkit::RagmeshProcess;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

type BenchResult<T> = Result<T, Box<dyn std::error::Error>>;

const COLLECTION: &str = "bench";

const RETRIEVE_STEPS: &[&str] = &[
    "total",
    "retrieve",
    "retrieve.embed",
    "retrieve.bm25",
    "retrieve.vector",
    "retrieve.fusion",
];
/// `k` of the generation passes: the default 5, and 3 to show what prompt size costs.
const QUERY_KS: [u32; 2] = [5, 3];
const QUERY_STEPS: &[&str] = &["total", "retrieve", "generate.first_token", "generate"];

fn main() -> BenchResult<()> {
    let smoke = !std::env::args().any(|a| a == "--bench");
    let questions = env_count(
        "RAGMESH_BENCH_QUESTIONS",
        if smoke { 1 } else { QUESTIONS.len() },
    )?
    .min(QUESTIONS.len());
    let rounds = env_count("RAGMESH_BENCH_ROUNDS", if smoke { 1 } else { 3 })?;
    let machine = Machine::detect();
    let load_before = latency_report::load_average();
    eprintln!(
        "query_latency: {questions} questions, {rounds} retrieval rounds, load {load_before}"
    );

    let data_dir = tempfile::tempdir()?;
    let bin = Path::new(env!("CARGO_BIN_EXE_ragmesh"));
    let started = Instant::now();
    let process = RagmeshProcess::up(bin, data_dir.path(), &[]);
    eprintln!(
        "ragmesh up ready in {:.1} s at {}",
        started.elapsed().as_secs_f64(),
        process.url
    );

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let run = Run {
        base: process.url.clone(),
        client: client()?,
        questions: &QUESTIONS[..questions],
    };
    let measured = runtime.block_on(run.measure(rounds)).inspect_err(|_| {
        eprintln!("ragmesh log tail:\n{}", process.log_tail());
    })?;
    drop(process);
    let load_after = latency_report::load_average();

    let command = command_line(questions, rounds, smoke);
    print_report(&machine, &command, &load_before, &load_after, &measured);
    Ok(())
}

fn command_line(questions: usize, rounds: usize, smoke: bool) -> String {
    let mut env = Vec::new();
    if questions != QUESTIONS.len() {
        env.push(format!("RAGMESH_BENCH_QUESTIONS={questions}"));
    }
    if rounds != 3 {
        env.push(format!("RAGMESH_BENCH_ROUNDS={rounds}"));
    }
    env.push(if smoke {
        "cargo test --benches".into()
    } else {
        "cargo bench --bench query_latency".into()
    });
    env.join(" ")
}

fn client() -> BenchResult<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .timeout(Duration::from_secs(600))
        .build()?)
}

/// Everything one run measured.
struct Measured {
    documents: usize,
    chunks: u64,
    ingest_s: f64,
    rounds: usize,
    retrieve: StepSamples,
    /// Round-1 retrievals whose first source / any source is one of the expected documents.
    top1_hits: usize,
    topk_hits: usize,
    queries: Vec<QueryPass>,
}

/// `/api/query` with `k` sources, every question once.
#[derive(Default)]
struct QueryPass {
    k: u32,
    steps: StepSamples,
    generation: GenerationSamples,
}

struct Run<'a> {
    base: String,
    client: reqwest::Client,
    questions: &'a [(&'a str, &'a [&'a str])],
}

impl Run<'_> {
    async fn measure(&self, rounds: usize) -> BenchResult<Measured> {
        let body = ingest_body()?;
        let documents = body["documents"].as_array().map_or(0, Vec::len);
        let started = Instant::now();
        let ingested = self
            .post(&format!("/api/collections/{COLLECTION}/documents"), &body)
            .await?;
        let ingest_s = started.elapsed().as_secs_f64();
        let chunks = ingested["chunks_added"]
            .as_u64()
            .ok_or("ingest answer without chunks_added")?;
        eprintln!("ingested {documents} documents, {chunks} chunks in {ingest_s:.2} s");

        // Warm-up outside the numbers: first-use costs (connections, allocator, caches).
        let warm_up = "What is ragmesh?";
        self.post("/api/retrieve", &request(warm_up, 5)).await?;
        self.post("/api/query", &request(warm_up, 5)).await?;

        let mut retrieve = StepSamples::default();
        let (mut top1_hits, mut topk_hits) = (0, 0);
        for round in 0..rounds {
            for (question, expected) in self.questions {
                let answer = self.post("/api/retrieve", &request(question, 5)).await?;
                retrieve.add_profile(&answer["profile"])?;
                if round == 0 {
                    let sources = source_names(&answer);
                    top1_hits += usize::from(
                        sources
                            .first()
                            .is_some_and(|s| expected.contains(&s.as_str())),
                    );
                    topk_hits +=
                        usize::from(sources.iter().any(|s| expected.contains(&s.as_str())));
                }
            }
            eprintln!("retrieve round {} of {rounds} done", round + 1);
        }
        let queries = self.query_passes().await?;
        Ok(Measured {
            documents,
            chunks,
            ingest_s,
            rounds,
            retrieve,
            top1_hits,
            topk_hits,
            queries,
        })
    }

    /// Every question through `/api/query` once per entry of [`QUERY_KS`], default generation
    /// settings. The k values alternate question by question, so a change of machine load
    /// during the run hits every k alike instead of skewing the comparison.
    async fn query_passes(&self) -> BenchResult<Vec<QueryPass>> {
        let mut passes: Vec<QueryPass> = QUERY_KS
            .iter()
            .map(|&k| QueryPass {
                k,
                ..QueryPass::default()
            })
            .collect();
        for (i, (question, _)) in self.questions.iter().enumerate() {
            for pass in &mut passes {
                let answer = self.post("/api/query", &request(question, pass.k)).await?;
                pass.steps.add_profile(&answer["profile"])?;
                pass.generation.add_answer(&answer);
                eprintln!(
                    "query {}/{} k={}: {:.0} ms",
                    i + 1,
                    self.questions.len(),
                    pass.k,
                    answer["profile"]["total_ms"].as_f64().unwrap_or(f64::NAN)
                );
            }
        }
        Ok(passes)
    }

    async fn post(&self, path: &str, body: &Value) -> BenchResult<Value> {
        let response = self
            .client
            .post(format!("{}{path}", self.base))
            .json(body)
            .send()
            .await?;
        let status = response.status();
        let text = response.text().await?;
        if !status.is_success() {
            return Err(format!("POST {path} answered {status}: {text}").into());
        }
        Ok(serde_json::from_str(&text)?)
    }
}

fn request(query: &str, k: u32) -> Value {
    json!({ "query": query, "collection": COLLECTION, "method": "hybrid", "k": k })
}

fn source_names(answer: &Value) -> Vec<String> {
    answer["sources"]
        .as_array()
        .map(|sources| {
            sources
                .iter()
                .filter_map(|s| s["source"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The project's `docs/*.md` and the fixture corpus, each file's name as its source.
fn ingest_body() -> BenchResult<Value> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = files_in(&root.join("docs"), &["md"])?;
    files.extend(files_in(
        &root.join("tests/fixtures/corpus"),
        &["md", "txt"],
    )?);
    let mut documents = Vec::new();
    for path in files {
        let source = path
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or("file name is not UTF-8")?;
        documents.push(json!({ "source": source, "text": std::fs::read_to_string(&path)? }));
    }
    Ok(json!({ "documents": documents }))
}

fn files_in(dir: &Path, extensions: &[&str]) -> BenchResult<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))? {
        let path = entry?.path();
        if path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| extensions.contains(&e))
        {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

fn print_report(
    machine: &Machine,
    command: &str,
    load_before: &str,
    load_after: &str,
    m: &Measured,
) {
    let questions = m.retrieve.requests() / m.rounds.max(1);
    println!("### End-to-end query latency\n");
    println!(
        "- Machine: {} cores (`nproc`), {}",
        machine.cores, machine.cpu
    );
    println!(
        "- Date: {}; source {}",
        machine.date,
        latency_report::source_revision()
    );
    println!(
        "- Command: `{command}` (release build; `ragmesh up`, four services over loopback gRPC)"
    );
    println!("- Load average (1, 5, 15 min): before {load_before}; after {load_after}");
    println!(
        "- Corpus: {} documents (`docs/*.md` + `tests/fixtures/corpus`), {} chunks; ingest {:.2} s wall, {:.1} chunks/s",
        m.documents,
        m.chunks,
        m.ingest_s,
        m.chunks as f64 / m.ingest_s
    );
    println!(
        "- {questions} questions, hybrid retrieval; expected document first in {}/{questions}, in the top 5 in {}/{questions}",
        m.top1_hits, m.topk_hits
    );
    let ks: Vec<String> = QUERY_KS.iter().map(|k| format!("k={k}")).collect();
    println!(
        "- Requests one at a time after one warm-up query; the `/api/query` passes alternate {} question by question; percentiles are nearest-rank\n",
        ks.join(" and ")
    );
    println!("| pass | step | n | p50 ms | p95 ms | max ms |");
    println!("|---|---|---|---|---|---|");
    let retrieve_pass = format!("`/api/retrieve` k=5 ×{}", m.rounds);
    for row in m.retrieve.table_rows(&retrieve_pass, RETRIEVE_STEPS) {
        println!("{row}");
    }
    for pass in &m.queries {
        for row in pass
            .steps
            .table_rows(&format!("`/api/query` k={}", pass.k), QUERY_STEPS)
        {
            println!("{row}");
        }
    }
    println!(
        "\n| pass | prompt tokens p50 | generated tokens p50 | decode tok/s p50 | ended on stop token |"
    );
    println!("|---|---|---|---|---|");
    for pass in &m.queries {
        println!(
            "{}",
            pass.generation
                .table_row(&format!("`/api/query` k={}", pass.k))
        );
    }
}
