//! The embedded backend under concurrent answers: time to first token and decode tokens/s per
//! stream, and total tokens/s, with 1 and with 4 answers streaming at once from one loaded
//! SmolLM2-135M-Instruct (Q8_0 at load, the default). Each request has its own KV cache and all
//! share the backend's pool, so the question is how throughput and latency trade off.
//! Run with `cargo bench -p ragmesh-llm --bench concurrent_streams` (prints a Markdown table).

#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use futures::StreamExt;
use ragmesh_llm::{
    Context, EmbeddedGenerator, EmbeddedOptions, GenerationEvent, GenerationRequest,
    GenerationStats, Generator,
};
use std::time::Instant;

const NEW_TOKENS: usize = 48;
const ROUNDS: usize = 3;

fn request() -> GenerationRequest {
    let contexts = [
        (
            "festivals.txt",
            "The Zorblat festival is held every March in the town of Quenby. Visitors eat blue pancakes, watch a parade of paper boats on the canal and vote for the best lantern. About twelve thousand people attend over three days.",
        ),
        (
            "kitchen.txt",
            "To make the blue pancakes of Quenby, mix flour, one egg, sugar and milk, then stir in the juice of boiled red cabbage and a pinch of baking soda, which turns the batter blue.",
        ),
    ];
    GenerationRequest {
        query: "What do visitors eat at the Zorblat festival, and how is it made?".into(),
        contexts: contexts
            .iter()
            .enumerate()
            .map(|(i, (source, text))| Context {
                index: i as u32 + 1,
                source: (*source).into(),
                text: (*text).into(),
            })
            .collect(),
        // A fixed length so every stream does the same work (EOS is not reached first).
        max_new_tokens: Some(NEW_TOKENS),
        instruction: None,
    }
}

async fn answer(generator: &EmbeddedGenerator) -> GenerationStats {
    let mut stream = generator.generate(request());
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

fn main() {
    let gguf =
        ragmesh_testkit::models_dir().join("SmolLM2-135M-Instruct/SmolLM2-135M-Instruct.Q4_1.gguf");
    let mut options = EmbeddedOptions::new(gguf);
    options.threads = 2;
    let generator = EmbeddedGenerator::load(options).unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(answer(&generator)); // warm-up
    println!(
        "| concurrent streams | prompt tokens | TTFT ms (median) | decode tok/s per stream | total tok/s |"
    );
    println!("|---|---|---|---|---|");
    for streams in [1usize, 4] {
        let mut ttft = Vec::new();
        let mut per_stream = Vec::new();
        let mut total = Vec::new();
        let mut prompt_tokens = 0;
        for _ in 0..ROUNDS {
            let started = Instant::now();
            let all: Vec<GenerationStats> = runtime.block_on(futures::future::join_all(
                (0..streams).map(|_| answer(&generator)),
            ));
            let wall = started.elapsed().as_secs_f64();
            let tokens: usize = all.iter().map(|s| s.generated_tokens).sum();
            total.push(tokens as f64 / wall);
            for s in &all {
                prompt_tokens = s.prompt_tokens;
                ttft.push(s.ttft_ms);
                if s.generated_tokens > 1 && s.decode_ms > 0.0 {
                    per_stream.push((s.generated_tokens - 1) as f64 / (s.decode_ms / 1000.0));
                }
            }
        }
        println!(
            "| {streams} | {prompt_tokens} | {:.0} | {:.1} | {:.1} |",
            median(ttft),
            median(per_stream),
            median(total)
        );
    }
}
