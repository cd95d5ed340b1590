//! Embedding throughput of all-MiniLM-L6-v2 on candle: chunks/s at batch 32 for ~64- and
//! ~200-word-piece chunks on 1 and 2 threads, and the latency of one short query. Plain std
//! timing (`cargo bench -p ragmesh-embed`); numbers go to docs/benchmarks.md, never into tests.
//!
//! The chunks are written to `<target>/tmp/embed_bench_texts.json` so
//! `embed_throughput_st.py` can time sentence-transformers on exactly the same texts.

#![allow(clippy::print_stdout, clippy::unwrap_used)]

use ragmesh_embed::Embedder;
use std::time::{Duration, Instant};

const BATCH: usize = 32;
const BATCHES: usize = 8;
const QUERY_RUNS: usize = 50;

const WORDS: &[&str] = &[
    "the",
    "service",
    "retrieval",
    "index",
    "query",
    "vector",
    "document",
    "chunk",
    "model",
    "search",
    "ranking",
    "fusion",
    "latency",
    "throughput",
    "cache",
    "gateway",
    "stream",
    "token",
    "answer",
    "source",
    "collection",
    "embedding",
    "keyword",
    "score",
    "rerank",
    "generation",
    "prompt",
    "context",
    "citation",
    "config",
    "thread",
    "pool",
    "batch",
    "memory",
    "disk",
    "restart",
    "persist",
    "shard",
    "replica",
    "network",
    "request",
    "response",
    "error",
    "timeout",
    "budget",
    "benchmark",
    "metric",
    "histogram",
    "counter",
    "alert",
    "dashboard",
    "deploy",
    "container",
    "cluster",
    "node",
    "upgrade",
    "rollback",
    "schema",
    "version",
    "format",
    "parser",
    "tokenizer",
    "vocabulary",
    "unicode",
    "accent",
    "language",
    "English",
    "Rust",
    "Python",
    "compiler",
    "borrow",
    "lifetime",
    "async",
    "runtime",
    "future",
    "channel",
    "mutex",
    "atomic",
    "lock",
    "file",
    "path",
    "directory",
    "download",
    "verify",
    "hash",
    "signature",
    "archive",
    "wheel",
    "package",
    "mirror",
    "proxy",
    "certificate",
    "secure",
    "fast",
    "slow",
    "small",
    "large",
    "quickly",
    "carefully",
    "often",
    "rarely",
    "always",
    "never",
    "because",
    "although",
    "when",
    "while",
    "after",
    "before",
    "with",
    "without",
    "under",
    "over",
    "between",
    "is",
    "are",
    "was",
    "returns",
    "stores",
    "reads",
    "writes",
    "merges",
    "splits",
    "computes",
    "loads",
    "2026",
    "42",
    "3.14",
    "v1.2.0",
    "HTTP/2",
    "gRPC",
    "BM25",
    "HNSW",
    "p95",
    "x86_64",
];

/// Deterministic pseudo-random prose (a linear congruential generator over `WORDS`).
fn prose(seed: u64, words: usize) -> String {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut out = String::new();
    for i in 0..words {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let word = WORDS[(state >> 33) as usize % WORDS.len()];
        if i > 0 {
            out.push(' ');
        }
        out.push_str(word);
        if i % 13 == 12 {
            out.push('.');
        } else if i % 7 == 6 {
            out.push(',');
        }
    }
    out
}

/// `count` chunks of exactly `pieces` word pieces (plus [CLS] and [SEP] when embedded).
fn chunks(embedder: &Embedder, pieces: usize, count: usize) -> Vec<String> {
    (0..count as u64)
        .map(|seed| {
            let text = prose(seed + pieces as u64 * 1000, pieces * 2);
            let offsets = embedder.token_offsets(&text).unwrap();
            text[..offsets[pieces - 1].1].to_string()
        })
        .collect()
}

fn pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
}

fn chunks_per_second(embedder: &Embedder, texts: &[String], threads: usize) -> f64 {
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    pool(threads).install(|| {
        embedder.embed(&refs[..BATCH]).unwrap(); // warm-up
        let start = Instant::now();
        for batch in refs.chunks(BATCH) {
            let vectors = embedder.embed(batch).unwrap();
            assert_eq!(vectors.len(), batch.len());
        }
        texts.len() as f64 / start.elapsed().as_secs_f64()
    })
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let index = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[index].as_secs_f64() * 1e3
}

fn main() {
    let model_dir = ragmesh_models::embedding_model_dir(&ragmesh_testkit::models_dir());
    let embedder = Embedder::load(&model_dir).unwrap();
    let short = chunks(&embedder, 62, BATCH * BATCHES);
    let long = chunks(&embedder, 198, BATCH * BATCHES);
    let texts_path =
        std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("embed_bench_texts.json");
    let dump = serde_json::json!({ "chunks_64": short, "chunks_200": long, "query": QUERY });
    std::fs::write(&texts_path, dump.to_string()).unwrap();

    println!(
        "all-MiniLM-L6-v2 on candle (CPU), batch {BATCH}, {} chunks per run",
        BATCH * BATCHES
    );
    println!("texts for the Python side: {}", texts_path.display());
    for (label, texts) in [("64-token chunks", &short), ("200-token chunks", &long)] {
        for threads in [1, 2] {
            let rate = chunks_per_second(&embedder, texts, threads);
            println!("{label:>17}, {threads} thread(s): {rate:7.1} chunks/s");
        }
    }
    for threads in [1, 2] {
        let mut times: Vec<Duration> = pool(threads).install(|| {
            embedder.embed(&[QUERY]).unwrap();
            (0..QUERY_RUNS)
                .map(|_| {
                    let start = Instant::now();
                    embedder.embed(&[QUERY]).unwrap();
                    start.elapsed()
                })
                .collect()
        });
        times.sort();
        println!(
            "single short query, {threads} thread(s): p50 {:.2} ms, p95 {:.2} ms ({QUERY_RUNS} runs)",
            percentile(&times, 0.5),
            percentile(&times, 0.95)
        );
    }
}

const QUERY: &str = "How do I point ragmesh at a package mirror?";
