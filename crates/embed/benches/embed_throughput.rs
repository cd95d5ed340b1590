//! Embedding throughput of all-MiniLM-L6-v2 on candle: chunks/s at batch 32 for ~64- and
//! ~200-word-piece chunks on 1 and 2 threads, the latency of one short query, and an ingest's
//! chunk mix (documents of full chunks and a short last one) batched in document order against
//! longest first, as the retrieval service batches it. Plain std timing
//! (`cargo bench -p ragmesh-embed`); numbers go to docs/benchmarks.md, never into tests.
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

/// Like [`chunks_per_second`] on `workers` threads, but data-parallel: each worker embeds
/// whole batches on a one-thread pool of its own, instead of all threads sharing each batch's
/// matrix products.
fn chunks_per_second_per_batch(embedder: &Embedder, texts: &[String], workers: usize) -> f64 {
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let batches: Vec<&[&str]> = refs.chunks(BATCH).collect();
    std::thread::scope(|scope| {
        let warm: Vec<_> = (0..workers)
            .map(|_| scope.spawn(|| pool(1).install(|| embedder.embed(batches[0]).unwrap())))
            .collect();
        for w in warm {
            w.join().unwrap();
        }
        let start = Instant::now();
        let handles: Vec<_> = (0..workers)
            .map(|w| {
                let mine: Vec<&[&str]> = batches.iter().skip(w).step_by(workers).copied().collect();
                scope.spawn(move || {
                    pool(1).install(|| {
                        for batch in mine {
                            assert_eq!(embedder.embed(batch).unwrap().len(), batch.len());
                        }
                    })
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        texts.len() as f64 / start.elapsed().as_secs_f64()
    })
}

/// Chunks of `documents` documents as the chunker cuts them: 1–3 chunks of 198 word pieces
/// and a last chunk of 20–198, in document order.
fn document_chunks(embedder: &Embedder, documents: u64) -> Vec<String> {
    let mut out = Vec::new();
    for doc in 0..documents {
        let full = 1 + (doc * 7 % 3) as usize;
        let last = 20 + (doc * 37 % 179) as usize;
        for i in 0..full {
            out.extend(chunks_seeded(embedder, 198, doc * 10 + i as u64));
        }
        out.extend(chunks_seeded(embedder, last, doc * 10 + 9));
    }
    out
}

fn chunks_seeded(embedder: &Embedder, pieces: usize, seed: u64) -> Option<String> {
    let text = prose(seed + 7_000_000, pieces * 2);
    let offsets = embedder.token_offsets(&text).ok()?;
    Some(text[..offsets[pieces - 1].1].to_string())
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
        let rate = chunks_per_second_per_batch(&embedder, texts, 2);
        println!("{label:>17}, 2 workers, one batch each: {rate:7.1} chunks/s");
    }
    let mixed = document_chunks(&embedder, 96);
    let mut longest_first = mixed.clone();
    longest_first.sort_by_key(|t| std::cmp::Reverse(t.len()));
    // Alternating, so load that changes during the run hits both orders alike.
    let (mut in_order, mut sorted) = (Vec::new(), Vec::new());
    for _ in 0..2 {
        in_order.push(chunks_per_second(&embedder, &mixed, 2));
        sorted.push(chunks_per_second(&embedder, &longest_first, 2));
    }
    let best = |v: &[f64]| v.iter().copied().fold(0.0, f64::max);
    println!(
        "{} chunks of 96 documents, 2 threads: document order {:.1} chunks/s, longest first {:.1} chunks/s ({:.2}x; runs {in_order:.1?} / {sorted:.1?})",
        mixed.len(),
        best(&in_order),
        best(&sorted),
        best(&sorted) / best(&in_order)
    );
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
