//! Prompt (prefill) and decode speed of the embedded engines against llama.cpp, in one run, on
//! the same GGUF, the same threads and the very same prompt tokens: a 2-context and a
//! 5-context RAG prompt (contexts cut from docs/architecture.md, packed by the generator's
//! own template; 559 and 1,507 tokens for SmolLM2). Run with
//! `cargo bench -p ragmesh-llm --bench prefill_decode`.
//!
//! llama.cpp is the separate crate `bench/llamacpp-baseline` (built on its own, never by the
//! workspace: `cd bench/llamacpp-baseline && RUSTFLAGS="-C target-cpu=native" cargo build
//! --release`). Its binary is found at `bench/llamacpp-baseline/target/release/` or through
//! `RAGMESH_LLAMACPP_BASELINE`; without it the table has our rows only and says so.
//!
//! candle sizes its compute threads once per process (`CANDLE_NUM_THREADS`), so the engines
//! run in a child process of this binary with that variable set.

#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use futures::StreamExt;
use ragmesh_llm::{
    AnswerGuards, Context, EmbeddedGenerator, EmbeddedOptions, EngineKind, GenerationEvent,
    GenerationRequest, GenerationStats, Generator,
};
use std::path::PathBuf;
use std::process::Command;

const CHILD_ENV: &str = "RAGMESH_BENCH_CHILD";
const THREADS: usize = 2;
const RUNS: usize = 3;
const NEW_TOKENS: usize = 64;
const ARCHITECTURE: &str = include_str!("../../../docs/architecture.md");

fn gguf() -> PathBuf {
    ragmesh_testkit::models_dir().join("SmolLM2-135M-Instruct/SmolLM2-135M-Instruct.Q4_1.gguf")
}

fn main() {
    if std::env::var(CHILD_ENV).is_ok() {
        child();
    } else {
        parent();
    }
}

/// `contexts` passages of `words` words each, from consecutive parts of the architecture doc.
fn rag_request(contexts: usize, words: usize) -> GenerationRequest {
    let all: Vec<&str> = ARCHITECTURE
        .split_whitespace()
        .filter(|w| !w.starts_with('|') && !w.starts_with('#') && !w.starts_with("```"))
        .collect();
    GenerationRequest {
        query: "How does ragmesh decide which passages go into the prompt, and what happens when the cache is down?".into(),
        contexts: (0..contexts)
            .map(|i| Context {
                index: i as u32 + 1,
                source: format!("architecture.md#{}", i + 1),
                text: all[i * words * 2..i * words * 2 + words].join(" "),
            })
            .collect(),
        max_new_tokens: Some(NEW_TOKENS),
        instruction: None,
    }
}

fn prompts() -> [(&'static str, GenerationRequest); 2] {
    [
        ("2-context RAG prompt", rag_request(2, 110)),
        ("5-context RAG prompt", rag_request(5, 150)),
    ]
}

fn baseline_binary() -> Option<PathBuf> {
    let path = std::env::var_os("RAGMESH_LLAMACPP_BASELINE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../bench/llamacpp-baseline/target/release/llamacpp-baseline")
        });
    path.exists().then_some(path)
}

fn parent() {
    let exe = std::env::current_exe().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(&exe)
        .env(CHILD_ENV, dir.path())
        .env("CANDLE_NUM_THREADS", THREADS.to_string())
        .env("RAYON_NUM_THREADS", THREADS.to_string())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "benchmark child failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let ours = String::from_utf8(output.stdout).unwrap();
    println!("| engine | prompt | prompt tokens | prefill tok/s | decode tok/s |");
    println!("|---|---|---|---|---|");
    print!("{ours}");
    match baseline_binary() {
        None => println!("| llama.cpp | (not built: see bench/llamacpp-baseline) | | | |"),
        Some(binary) => {
            let files: Vec<PathBuf> = (0..prompts().len())
                .map(|i| dir.path().join(format!("prompt{i}.ids")))
                .collect();
            let output = Command::new(binary)
                .arg("--model")
                .arg(gguf())
                .args(["--threads", &THREADS.to_string()])
                .args(["--new-tokens", &NEW_TOKENS.to_string()])
                .args(["--runs", &RUNS.to_string()])
                .args(&files)
                .output()
                .unwrap();
            assert!(
                output.status.success(),
                "llama.cpp baseline failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            let text = String::from_utf8(output.stdout).unwrap();
            let results = text.lines().filter(|l| l.starts_with("RESULT "));
            for ((label, _), line) in prompts().iter().zip(results) {
                let fields: Vec<&str> = line.split_whitespace().collect();
                println!(
                    "| llama.cpp (llama-cpp-2, Q4_1 as shipped) | {label} | {} | {} | {} |",
                    fields[2], fields[3], fields[4]
                );
            }
        }
    }
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

fn child() {
    let dir = PathBuf::from(std::env::var(CHILD_ENV).unwrap());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    for (engine, label) in [
        (
            EngineKind::Native,
            "ragmesh native (f32 prefill, Q8_0 decode)",
        ),
        (EngineKind::Candle, "candle quantized_llama (Q8_0)"),
    ] {
        let mut options = EmbeddedOptions::new(gguf());
        options.threads = THREADS;
        options.engine = engine;
        // Decode a fixed-length answer: no sentence limits (the n-gram guard stays on).
        options.guards = AnswerGuards {
            max_sentences: 0,
            sentence_stop_window: 0,
            ..AnswerGuards::default()
        };
        let generator = EmbeddedGenerator::load(options).unwrap();
        for (i, (prompt_label, request)) in prompts().into_iter().enumerate() {
            if engine == EngineKind::Native {
                // The very same token ids for llama.cpp.
                let text = generator.packed_prompt(&request).unwrap().text;
                let ids = generator.tokenizer().encode(&text).unwrap();
                let ids: Vec<String> = ids.iter().map(u32::to_string).collect();
                std::fs::write(dir.join(format!("prompt{i}.ids")), ids.join(" ")).unwrap();
            }
            // One warm-up run, then the measured runs.
            runtime.block_on(run_once(&generator, request.clone()));
            let stats: Vec<GenerationStats> = (0..RUNS)
                .map(|_| runtime.block_on(run_once(&generator, request.clone())))
                .collect();
            let prefill = median(
                stats
                    .iter()
                    .map(|s| s.prompt_tokens as f64 / (s.prompt_ms / 1000.0))
                    .collect(),
            );
            let decode = median(
                stats
                    .iter()
                    .map(|s| s.generated_tokens.saturating_sub(1) as f64 / (s.decode_ms / 1000.0))
                    .collect(),
            );
            println!(
                "| {label} | {prompt_label} | {} | {prefill:.1} | {decode:.1} |",
                stats[0].prompt_tokens
            );
        }
    }
}
