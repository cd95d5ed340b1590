//! Precision and recall of the semantic match across thresholds, with and without the
//! near-miss verifier, on the development set (tests/fixtures/pairs.jsonl) and on the held-out
//! set (tests/fixtures/heldout.jsonl, never used to tune the verifier), embedded with the real
//! all-MiniLM-L6-v2. Prints the tables that docs/cache.md shows, including the false hits per
//! near-miss category at the shipped threshold:
//!
//! `cargo bench -p ragmesh-cache --bench threshold_sweep`
#![allow(clippy::unwrap_used, clippy::print_stdout)]

#[path = "../tests/pairs/mod.rs"]
mod pairs;

/// The first verifier, for the baseline columns.
mod baseline_verify;

use ragmesh_cache::vector_index::dot;
use ragmesh_cache::verify::same_question;
use ragmesh_config::CacheSettings;

fn main() {
    report("development set (pairs.jsonl)", &pairs::pairs());
    report("held-out set (heldout.jsonl)", &pairs::heldout());
}

/// One scored pair: label, should hit, same namespace, verifier agrees, cosine.
struct Scored {
    label: String,
    should: bool,
    same_ns: bool,
    agrees: bool,
    /// What the first verifier said.
    agrees_before: bool,
    cos: f32,
}

fn report(name: &str, all: &[pairs::Pair]) {
    let embedded = pairs::embedded(all);
    let scored: Vec<Scored> = embedded
        .iter()
        .map(|(p, a, b)| Scored {
            label: p.label.clone(),
            should: p.should_hit(),
            same_ns: p.collection_a() == p.collection_b(),
            agrees: same_question(&p.a, &p.b),
            agrees_before: baseline_verify::same_question(&p.a, &p.b),
            cos: dot(a, b),
        })
        .collect();
    let shipped = CacheSettings::default().threshold;
    println!(
        "\n## {name}: {} pairs ({} paraphrases), shipped threshold {shipped}\n",
        all.len(),
        all.iter().filter(|p| p.should_hit()).count()
    );
    println!(
        "| threshold | cosine only: precision | recall | false-hit rate | + first verifier: precision | recall | false-hit rate | + meaning-level verifier: precision | recall | false-hit rate | false hits (95 % upper bound) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for t in [
        0.70f32, 0.75, 0.80, 0.82, 0.84, 0.86, 0.88, 0.90, 0.92, 0.94, 0.95, 0.97,
    ] {
        let mut plain = pairs::Outcome::default();
        let mut before = pairs::Outcome::default();
        let mut verified = pairs::Outcome::default();
        for s in &scored {
            plain.add(s.should, s.same_ns && s.cos >= t);
            before.add(s.should, s.same_ns && s.cos >= t && s.agrees_before);
            verified.add(s.should, s.same_ns && s.cos >= t && s.agrees);
        }
        let negatives = verified.false_hits + verified.correct_misses;
        println!(
            "| {t:.2} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {} of {negatives} ({:.3}) |",
            plain.precision(),
            plain.recall(),
            plain.false_hit_rate(),
            before.precision(),
            before.recall(),
            before.false_hit_rate(),
            verified.precision(),
            verified.recall(),
            verified.false_hit_rate(),
            verified.false_hits,
            pairs::upper_bound_95(verified.false_hits, negatives),
        );
    }
    // Per label: cosine range, and what gets through at the shipped threshold.
    let mut labels: Vec<&str> = all.iter().map(|p| p.label.as_str()).collect();
    labels.sort();
    labels.dedup();
    println!(
        "\n| label | pairs | min cosine | median | max | ≥ threshold | hits, first verifier | hits, meaning-level verifier |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for label in labels {
        let of: Vec<&Scored> = scored.iter().filter(|s| s.label == label).collect();
        let mut c: Vec<f32> = of.iter().map(|s| s.cos).collect();
        c.sort_by(f32::total_cmp);
        let above = of.iter().filter(|s| s.same_ns && s.cos >= shipped).count();
        let hits = of
            .iter()
            .filter(|s| s.same_ns && s.cos >= shipped && s.agrees)
            .count();
        let hits_before = of
            .iter()
            .filter(|s| s.same_ns && s.cos >= shipped && s.agrees_before)
            .count();
        println!(
            "| {label} | {} | {:.3} | {:.3} | {:.3} | {above} | {hits_before} | {hits} |",
            c.len(),
            c[0],
            c[c.len() / 2],
            c[c.len() - 1]
        );
    }
}
