//! Regression test of the semantic match against labelled pairs (true paraphrases and
//! near-misses: negations, antonyms, directions, comparisons, co-hyponyms, quantities, units,
//! dates, names, swapped roles...), embedded with the real all-MiniLM-L6-v2. Each pair goes
//! through the real L1 path: `a` is stored, `b` is looked up with the shipped threshold and
//! verifier.
//!
//! - development set (fixtures/pairs.jsonl, 226 pairs, the verifier was shaped on it): no
//!   false hit at all;
//! - held-out set (fixtures/heldout.jsonl, 451 pairs written before the meaning-level verifier):
//!   at most the 3 false hits of 295 near-misses measured (1.02 %; the target is ≤ 1 %) and
//!   paraphrase recall ≥ 0.75.
//!
//! Both are properties of the code on fixed data, not timings.
#![allow(clippy::unwrap_used)]

mod pairs;

use ragmesh_cache::local::LocalTier;
use ragmesh_cache::verify::QuerySignature;
use ragmesh_cache::{CachedEntry, Clock, Namespace, normalize_query};
use ragmesh_config::CacheSettings;
use std::sync::Arc;

fn namespace(collection: &str) -> Namespace {
    Namespace {
        collection: collection.into(),
        epoch: "e".into(),
        generation: 0,
        params: "p".into(),
    }
}

/// Stores `a`, looks up `b` for every pair; the outcome and the false hits.
fn run(set: &str, all: &[pairs::Pair]) -> (pairs::Outcome, Vec<String>) {
    let settings = CacheSettings::default();
    let mut outcome = pairs::Outcome::default();
    let mut false_hits = Vec::new();
    for (pair, va, vb) in pairs::embedded(all) {
        let l1 = LocalTier::new(Clock::manual(0));
        let entry = CachedEntry {
            query: pair.a.clone(),
            normalized: normalize_query(&pair.a),
            vector: va,
            payload: serde_json::Value::Null,
            created_ms: 0,
            rendered: Default::default(),
        };
        l1.insert(&namespace(pair.collection_a()), Arc::new(entry), 60_000, 10);
        let hit = l1
            .get_semantic(
                &namespace(pair.collection_b()),
                &QuerySignature::of(&pair.b),
                &vb,
                settings.threshold,
                settings.verify,
            )
            .is_some();
        if hit && !pair.should_hit() {
            false_hits.push(format!("{} | {} ({})", pair.a, pair.b, pair.label));
        }
        outcome.add(pair.should_hit(), hit);
    }
    let negatives = outcome.false_hits + outcome.correct_misses;
    eprintln!(
        "{set}, threshold {}: precision {:.3}, recall {:.3}, false-hit rate {:.4} \
         ({} of {negatives}; 95 % upper bound {:.4}) ({outcome:?})",
        settings.threshold,
        outcome.precision(),
        outcome.recall(),
        outcome.false_hit_rate(),
        outcome.false_hits,
        pairs::upper_bound_95(outcome.false_hits, negatives),
    );
    (outcome, false_hits)
}

#[test]
fn development_set_has_no_false_hit_and_keeps_most_paraphrases() {
    let all = pairs::pairs();
    assert!(all.len() >= 200, "only {} pairs", all.len());
    let (outcome, false_hits) = run("development set", &all);
    assert!(false_hits.is_empty(), "false hits: {false_hits:#?}");
    assert!(
        outcome.recall() >= 0.5,
        "recall {:.3} too low: the cache would rarely hit paraphrases",
        outcome.recall()
    );
}

/// Held-out paraphrase recall must not fall below this: the target (measured 0.801 at
/// the shipped threshold, docs/cache.md).
const RECALL_FLOOR: f64 = 0.75;

/// Held-out near-misses the shipped verifier lets through at the shipped threshold: 3 of 295
/// (1.02 %), one pair above the 1 % target (2 of 295). The three are swaps with no word between
/// them, which the verifier does not see (docs/cache.md, known limits): "5 miles in kilometres"
/// / "5 kilometres in miles", "expand a collapsed section" / "collapse an expanded section",
/// "what causes high cholesterol" / "what does high cholesterol cause". More is a regression.
const HELD_OUT_FALSE_HITS_MAX: usize = 3;

#[test]
fn held_out_set_keeps_false_hits_at_three_of_295() {
    let all = pairs::heldout();
    assert!(all.len() >= 300, "only {} pairs", all.len());
    let (outcome, false_hits) = run("held-out set", &all);
    assert!(
        outcome.false_hits <= HELD_OUT_FALSE_HITS_MAX,
        "{} false hits (at most {HELD_OUT_FALSE_HITS_MAX}): {false_hits:#?}",
        outcome.false_hits
    );
    assert!(
        outcome.recall() >= RECALL_FLOOR,
        "held-out paraphrase recall {:.3} below {RECALL_FLOOR}",
        outcome.recall()
    );
}
