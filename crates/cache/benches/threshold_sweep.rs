//! Precision and recall of the semantic match across thresholds, with and without the
//! near-miss verifier, over the labelled pairs (tests/fixtures/pairs.jsonl) embedded with the
//! real all-MiniLM-L6-v2. Prints the table that docs/cache.md shows:
//!
//! `cargo bench -p ragmesh-cache --bench threshold_sweep`
#![allow(clippy::unwrap_used, clippy::print_stdout)]

#[path = "../tests/pairs/mod.rs"]
mod pairs;

use ragmesh_cache::vector_index::dot;
use ragmesh_cache::verify::same_question;

fn main() {
    let all = pairs::pairs();
    let embedded = pairs::embedded(&all);
    let scored: Vec<(bool, bool, bool, f32)> = embedded
        .iter()
        .map(|(p, a, b)| {
            (
                p.should_hit(),
                p.collection_a() == p.collection_b(),
                same_question(&p.a, &p.b),
                dot(a, b),
            )
        })
        .collect();
    println!(
        "{} pairs ({} paraphrases)",
        all.len(),
        all.iter().filter(|p| p.should_hit()).count()
    );
    println!(
        "| threshold | cosine only: precision | recall | false-hit rate | + verifier: precision | recall | false-hit rate |"
    );
    println!("|---|---|---|---|---|---|---|");
    for t in [
        0.70f32, 0.75, 0.80, 0.82, 0.84, 0.86, 0.88, 0.90, 0.92, 0.94, 0.95, 0.97,
    ] {
        let mut plain = pairs::Outcome::default();
        let mut verified = pairs::Outcome::default();
        for &(should, same_ns, agrees, cos) in &scored {
            plain.add(should, same_ns && cos >= t);
            verified.add(should, same_ns && cos >= t && agrees);
        }
        println!(
            "| {t:.2} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} |",
            plain.precision(),
            plain.recall(),
            plain.false_hit_rate(),
            verified.precision(),
            verified.recall(),
            verified.false_hit_rate()
        );
    }
    // Per-label cosine ranges, to see what the verifier has to catch.
    let mut labels: Vec<&str> = all.iter().map(|p| p.label.as_str()).collect();
    labels.sort();
    labels.dedup();
    println!("\n| label | pairs | min cosine | median | max |");
    println!("|---|---|---|---|---|");
    for label in labels {
        let mut c: Vec<f32> = embedded
            .iter()
            .filter(|(p, _, _)| p.label == label)
            .map(|(_, a, b)| dot(a, b))
            .collect();
        c.sort_by(f32::total_cmp);
        println!(
            "| {label} | {} | {:.3} | {:.3} | {:.3} |",
            c.len(),
            c[0],
            c[c.len() / 2],
            c[c.len() - 1]
        );
    }
}
