//! Cost of the near-miss verifier, the part of a semantic lookup that runs per candidate
//! above the threshold, over the 677 labelled pairs of tests/fixtures (development and
//! held-out sets; no embedding needed):
//!
//! - the one-time parse of the baked WordNet (`data/wordnet.tsv`), on the first query;
//! - `QuerySignature::of` (once per query: at lookup, and when an entry is stored);
//! - `agrees_with` (once per candidate that passed the threshold);
//! - baseline in the same run: one 384-dimension `f32` dot product, the cosine every candidate
//!   already costs.
//!
//! `cargo bench -p ragmesh-cache --bench verify_cost`. Prints the best, mean and worst pass
//! per item for each case.
#![allow(clippy::unwrap_used, clippy::print_stdout)]

#[path = "../tests/pairs/mod.rs"]
mod pairs;

use ragmesh_cache::vector_index::dot;
use ragmesh_cache::verify::QuerySignature;
use std::hint::black_box;
use std::time::{Duration, Instant};

fn main() {
    let mut all = pairs::pairs();
    all.extend(pairs::heldout());
    let start = Instant::now();
    black_box(QuerySignature::of("warm up the lexicon"));
    println!(
        "first signature (parses the baked WordNet): {:.1} ms\n",
        start.elapsed().as_secs_f64() * 1e3
    );
    println!("| case | passes | best per item | mean per item | worst pass per item |");
    println!("|---|---|---|---|---|");

    let queries: Vec<&str> = all
        .iter()
        .flat_map(|p| [p.a.as_str(), p.b.as_str()])
        .collect();
    report(
        "QuerySignature::of (per query)",
        passes(20, queries.len(), || {
            for q in &queries {
                black_box(QuerySignature::of(black_box(q)));
            }
        }),
    );

    let signed: Vec<(QuerySignature, QuerySignature)> = all
        .iter()
        .map(|p| (QuerySignature::of(&p.a), QuerySignature::of(&p.b)))
        .collect();
    report(
        "agrees_with (per candidate)",
        passes(200, signed.len(), || {
            for (a, b) in &signed {
                black_box(black_box(a).agrees_with(black_box(b)));
            }
        }),
    );

    let x: Vec<f32> = (0..384).map(|i| (i as f32).sin()).collect();
    let y: Vec<f32> = (0..384).map(|i| (i as f32).cos()).collect();
    report(
        "baseline: 384-d f32 dot product",
        passes(200, signed.len(), || {
            for _ in 0..signed.len() {
                black_box(dot(black_box(&x), black_box(&y)));
            }
        }),
    );
}

/// Per-item time of each of `n` passes over `items` items (timed per pass: a single call is
/// too short for the clock).
fn passes(n: usize, items: usize, mut pass: impl FnMut()) -> Vec<Duration> {
    (0..n)
        .map(|_| {
            let t = Instant::now();
            pass();
            t.elapsed() / items as u32
        })
        .collect()
}

fn report(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let mean = samples.iter().sum::<Duration>() / samples.len() as u32;
    let worst = samples[samples.len() - 1];
    println!(
        "| {name} | {} passes | {:.3} µs | {:.3} µs | {:.3} µs |",
        samples.len(),
        samples[0].as_secs_f64() * 1e6,
        mean.as_secs_f64() * 1e6,
        worst.as_secs_f64() * 1e6
    );
}
