//! Regression test of the semantic match against ≥ 200 labelled pairs (true paraphrases and
//! near-misses: negations, swapped names, other numbers or dates, related-but-different
//! questions, other collections), embedded with the real all-MiniLM-L6-v2. Each pair goes
//! through the real L1 path: `a` is stored, `b` is looked up with the shipped threshold and
//! verifier. Shipped defaults must give ≤ 1 % false hits and keep most paraphrases.
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

#[test]
fn shipped_threshold_and_verifier_keep_false_hits_at_or_below_one_percent() {
    let all = pairs::pairs();
    assert!(all.len() >= 200, "only {} pairs", all.len());
    let settings = CacheSettings::default();
    let mut outcome = pairs::Outcome::default();
    let mut false_hits = Vec::new();
    for (pair, va, vb) in pairs::embedded(&all) {
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
    eprintln!(
        "threshold {}: precision {:.3}, recall {:.3}, false-hit rate {:.3} ({outcome:?})",
        settings.threshold,
        outcome.precision(),
        outcome.recall(),
        outcome.false_hit_rate()
    );
    assert!(
        outcome.false_hit_rate() <= 0.01,
        "false hits above 1 %: {false_hits:#?}"
    );
    assert!(
        outcome.recall() >= 0.5,
        "recall {:.3} too low: the cache would rarely hit paraphrases",
        outcome.recall()
    );
}
