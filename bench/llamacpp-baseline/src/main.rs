//! The llama.cpp baseline of ragmesh's generation benchmark: given a GGUF and prompt files of
//! token ids (written by `crates/llm/benches/prefill_decode.rs`, so both engines see the very
//! same tokens), it times the prompt pass and a fixed number of greedy decode steps and prints
//! one `RESULT <file> <prompt tokens> <prefill tok/s> <decode tok/s>` line per prompt (medians).
//!
//! Usage: `llamacpp-baseline --model M.gguf --threads 2 --new-tokens 64 --runs 3 p1.ids p2.ids`

use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::token::LlamaToken;
use std::num::NonZeroU32;
use std::time::Instant;

type Error = Box<dyn std::error::Error>;

struct Args {
    model: String,
    threads: i32,
    new_tokens: usize,
    runs: usize,
    files: Vec<String>,
}

fn parse_args() -> Result<Args, Error> {
    let mut args = Args {
        model: String::new(),
        threads: 2,
        new_tokens: 64,
        runs: 3,
        files: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--model" => args.model = it.next().ok_or("--model needs a path")?,
            "--threads" => args.threads = it.next().ok_or("--threads needs a number")?.parse()?,
            "--new-tokens" => {
                args.new_tokens = it.next().ok_or("--new-tokens needs a number")?.parse()?
            }
            "--runs" => args.runs = it.next().ok_or("--runs needs a number")?.parse()?,
            _ => args.files.push(arg),
        }
    }
    if args.model.is_empty() || args.files.is_empty() {
        return Err("usage: llamacpp-baseline --model M.gguf [--threads N] [--new-tokens N] [--runs N] FILE...".into());
    }
    Ok(args)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn argmax(logits: &[f32]) -> i32 {
    let mut best = 0;
    for (i, v) in logits.iter().enumerate() {
        if *v > logits[best] {
            best = i;
        }
    }
    best as i32
}

fn main() -> Result<(), Error> {
    let args = parse_args()?;
    let mut backend = LlamaBackend::init()?;
    backend.void_logs();
    let model = LlamaModel::load_from_file(&backend, &args.model, &LlamaModelParams::default())?;
    let ctx_params = LlamaContextParams::default()
        .with_n_ctx(NonZeroU32::new(2048))
        .with_n_batch(2048)
        .with_n_threads(args.threads)
        .with_n_threads_batch(args.threads);
    let mut ctx = model.new_context(&backend, ctx_params)?;
    for file in &args.files {
        let tokens: Vec<LlamaToken> = std::fs::read_to_string(file)?
            .split_whitespace()
            .map(|t| t.parse().map(LlamaToken))
            .collect::<Result<_, _>>()?;
        let mut prefill = Vec::new();
        let mut decode = Vec::new();
        // One warm-up run, then the measured ones.
        for run in 0..=args.runs {
            ctx.clear_kv_cache();
            let mut batch = LlamaBatch::new(tokens.len().max(1), 1);
            let last = tokens.len() - 1;
            for (i, t) in tokens.iter().enumerate() {
                batch.add(*t, i as i32, &[0], i == last)?;
            }
            let started = Instant::now();
            ctx.decode(&mut batch)?;
            let prefill_s = started.elapsed().as_secs_f64();
            let mut next = argmax(ctx.get_logits_ith(batch.n_tokens() - 1));
            let started = Instant::now();
            for step in 0..args.new_tokens {
                batch.clear();
                batch.add(LlamaToken(next), (tokens.len() + step) as i32, &[0], true)?;
                ctx.decode(&mut batch)?;
                next = argmax(ctx.get_logits_ith(0));
            }
            let decode_s = started.elapsed().as_secs_f64();
            if run > 0 {
                prefill.push(tokens.len() as f64 / prefill_s);
                decode.push(args.new_tokens as f64 / decode_s);
            }
        }
        println!(
            "RESULT {file} {} {:.1} {:.1}",
            tokens.len(),
            median(prefill),
            median(decode)
        );
    }
    Ok(())
}
