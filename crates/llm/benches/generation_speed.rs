//! Speed of the embedded backend on SmolLM2-135M-Instruct: load time with and without the
//! Q8_0 re-quantization, and for a ~400-token RAG prompt the prompt tokens/s, decode tokens/s
//! and time to first token, on 1 and 2 threads. Run with
//! `cargo bench -p ragmesh-llm --bench generation_speed`.
//!
//! candle sizes its compute thread pool once per process (`CANDLE_NUM_THREADS`), so each
//! thread count runs in a child process of this binary with that variable set.

#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use futures::StreamExt;
use ragmesh_llm::{
    Context, EmbeddedGenerator, EmbeddedOptions, EngineKind, GenerationEvent, GenerationRequest,
    GenerationStats, Generator,
};
use std::path::PathBuf;
use std::time::Instant;

const CHILD_ENV: &str = "RAGMESH_BENCH_THREADS";
const RUNS: usize = 3;
const NEW_TOKENS: usize = 64;

fn gguf() -> PathBuf {
    ragmesh_testkit::models_dir().join("SmolLM2-135M-Instruct/SmolLM2-135M-Instruct.Q4_1.gguf")
}

fn main() {
    match std::env::var(CHILD_ENV) {
        Ok(threads) => child(threads.parse().expect("thread count")),
        Err(_) => parent(),
    }
}

fn parent() {
    let exe = std::env::current_exe().unwrap();
    println!(
        "| threads | weights | load s | prompt tokens | prompt tok/s | TTFT ms | decode tok/s |"
    );
    println!("|---|---|---|---|---|---|---|");
    for threads in [1, 2] {
        let status = std::process::Command::new(&exe)
            .env(CHILD_ENV, threads.to_string())
            .env("CANDLE_NUM_THREADS", threads.to_string())
            .env("RAYON_NUM_THREADS", threads.to_string())
            .status()
            .unwrap();
        assert!(
            status.success(),
            "benchmark child for {threads} thread(s) failed"
        );
    }
}

/// Four contexts of ~90 tokens each: a prompt of ~400 tokens with the template.
fn rag_request() -> GenerationRequest {
    let topics = [
        (
            "festivals.txt",
            "The Zorblat festival is held every March in the town of Quenby. Visitors eat blue pancakes, watch a parade of paper boats on the canal and vote for the best lantern. The festival started in 1852 when a storm destroyed the harbour and the town celebrated its rebuilding. Today about twelve thousand people attend over three days, and the mayor opens it by ringing the old harbour bell at noon.",
        ),
        (
            "rivers.txt",
            "The river Tamsel is 212 kilometres long. It flows from the Orrin mountains through the plains of Vell to the Grey Sea. Its largest tributary is the Brisk, which joins it at the town of Hollow Ford. The river freezes in hard winters, and in 1963 people walked across it for six weeks. Salmon return to its upper reaches every autumn to spawn in the cold gravel beds.",
        ),
        (
            "ragmesh.md",
            "ragmesh fuses BM25 and vector search with reciprocal rank fusion using k equal to sixty, then can rerank the best candidates with a cross-encoder. Every collection has its own indexes on disk, and re-ingesting a document with the same content adds nothing because chunk ids come from the collection, the source name and a hash of the text. Answers stream token by token.",
        ),
        (
            "kitchen.txt",
            "To make the blue pancakes of Quenby, mix two cups of flour, one egg, a spoon of sugar and a cup of milk, then stir in the juice of boiled red cabbage and a pinch of baking soda, which turns the batter blue. Cook them on a hot iron pan with butter for two minutes a side and serve with sour cream and lingonberry jam.",
        ),
    ];
    GenerationRequest {
        query: "What do visitors eat at the Zorblat festival, and how are they made?".into(),
        contexts: topics
            .iter()
            .enumerate()
            .map(|(i, (source, text))| Context {
                index: i as u32 + 1,
                source: (*source).into(),
                text: (*text).into(),
            })
            .collect(),
        max_new_tokens: Some(NEW_TOKENS),
        instruction: None,
    }
}

fn load(threads: usize, requantize_q8: bool) -> (EmbeddedGenerator, f64) {
    let mut options = EmbeddedOptions::new(gguf());
    options.threads = threads;
    options.requantize_q8 = requantize_q8;
    // Re-quantization is a setting of candle's engine (the native one always decodes on Q8_0;
    // `prefill_decode` compares the two).
    options.engine = EngineKind::Candle;
    let started = Instant::now();
    let generator = EmbeddedGenerator::load(options).unwrap();
    (generator, started.elapsed().as_secs_f64())
}

async fn run_once(generator: &EmbeddedGenerator, request: GenerationRequest) -> GenerationStats {
    let mut stream = generator.generate(request);
    while let Some(event) = stream.next().await {
        if let GenerationEvent::Done(stats) = event.unwrap() {
            return stats;
        }
    }
    panic!("no Done event");
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn child(threads: usize) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    for (label, requantize, runs, new_tokens) in [
        ("Q4_1 as shipped", false, 1, 32),
        ("Q8_0 re-quantized", true, RUNS, NEW_TOKENS),
    ] {
        let (generator, load_s) = load(threads, requantize);
        let request = GenerationRequest {
            max_new_tokens: Some(new_tokens),
            ..rag_request()
        };
        // One warm-up run (first-use allocations, repacking), then the measured runs.
        runtime.block_on(run_once(
            &generator,
            GenerationRequest {
                max_new_tokens: Some(4),
                ..request.clone()
            },
        ));
        let stats: Vec<GenerationStats> = (0..runs)
            .map(|_| runtime.block_on(run_once(&generator, request.clone())))
            .collect();
        let prompt_tokens = stats[0].prompt_tokens;
        let prompt_rate = median(
            stats
                .iter()
                .map(|s| s.prompt_tokens as f64 / (s.prompt_ms / 1000.0))
                .collect(),
        );
        let ttft = median(stats.iter().map(|s| s.ttft_ms).collect());
        let decode_rate = median(
            stats
                .iter()
                .map(|s| s.generated_tokens.saturating_sub(1) as f64 / (s.decode_ms / 1000.0))
                .collect(),
        );
        println!(
            "| {threads} | {label} | {load_s:.2} | {prompt_tokens} | {prompt_rate:.0} | {ttft:.0} | {decode_rate:.1} |"
        );
    }
}
