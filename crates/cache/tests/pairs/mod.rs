//! The labelled query pairs embedded with the real all-MiniLM-L6-v2, shared by the false-hit
//! regression test and the threshold sweep bench: the development set (fixtures/pairs.jsonl)
//! and the held-out set (fixtures/heldout.jsonl); fixtures/README.md has the labelling rule.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use ragmesh_embed::Embedder;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
pub struct Pair {
    pub a: String,
    pub b: String,
    pub label: String,
    #[serde(default)]
    pub collection_a: Option<String>,
    #[serde(default)]
    pub collection_b: Option<String>,
}

impl Pair {
    /// Only true paraphrases in the same collection should hit.
    pub fn should_hit(&self) -> bool {
        self.label == "paraphrase"
    }

    pub fn collection_a(&self) -> &str {
        self.collection_a.as_deref().unwrap_or("docs")
    }

    pub fn collection_b(&self) -> &str {
        self.collection_b.as_deref().unwrap_or("docs")
    }
}

/// The development set: the verifier may be shaped on it.
pub fn pairs() -> Vec<Pair> {
    parse(include_str!("../fixtures/pairs.jsonl"))
}

/// The held-out set: never used to tune the verifier.
pub fn heldout() -> Vec<Pair> {
    parse(include_str!("../fixtures/heldout.jsonl"))
}

fn parse(jsonl: &str) -> Vec<Pair> {
    jsonl
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

pub fn embedder() -> Embedder {
    let dir = ragmesh_models::embedding_model_dir(&ragmesh_testkit::models_dir());
    Embedder::load(&dir).unwrap()
}

/// (pair, vector of a, vector of b) for every pair, embedded in batches.
pub fn embedded(pairs: &[Pair]) -> Vec<(Pair, Vec<f32>, Vec<f32>)> {
    let embedder = embedder();
    let texts: Vec<&str> = pairs
        .iter()
        .flat_map(|p| [p.a.as_str(), p.b.as_str()])
        .collect();
    let mut vectors = Vec::with_capacity(texts.len());
    for batch in texts.chunks(32) {
        vectors.extend(embedder.embed(batch).unwrap());
    }
    pairs
        .iter()
        .zip(vectors.chunks(2))
        .map(|(p, v)| (p.clone(), v[0].clone(), v[1].clone()))
        .collect()
}

#[derive(Debug, Default, Clone, Copy)]
pub struct Outcome {
    pub true_hits: usize,
    pub false_hits: usize,
    pub missed: usize,
    pub correct_misses: usize,
}

impl Outcome {
    pub fn add(&mut self, should_hit: bool, hit: bool) {
        match (should_hit, hit) {
            (true, true) => self.true_hits += 1,
            (false, true) => self.false_hits += 1,
            (true, false) => self.missed += 1,
            (false, false) => self.correct_misses += 1,
        }
    }

    pub fn precision(&self) -> f64 {
        let hits = self.true_hits + self.false_hits;
        if hits == 0 {
            1.0
        } else {
            self.true_hits as f64 / hits as f64
        }
    }

    pub fn recall(&self) -> f64 {
        self.true_hits as f64 / (self.true_hits + self.missed).max(1) as f64
    }

    /// False hits as a share of the pairs that must not hit.
    pub fn false_hit_rate(&self) -> f64 {
        self.false_hits as f64 / (self.false_hits + self.correct_misses).max(1) as f64
    }
}

/// One-sided 95 % upper confidence bound of a rate with `k` events in `n` trials
/// (Clopper-Pearson, found by bisection on the binomial tail).
pub fn upper_bound_95(k: usize, n: usize) -> f64 {
    if n == 0 {
        return 1.0;
    }
    // P(X <= k | p) for X ~ Binomial(n, p).
    let tail = |p: f64| -> f64 {
        let mut term = (1.0 - p).powi(n as i32); // P(X = 0)
        let mut sum = term;
        for i in 0..k {
            term *= (n - i) as f64 / (i + 1) as f64 * p / (1.0 - p);
            sum += term;
        }
        sum
    };
    let (mut lo, mut hi) = (k as f64 / n as f64, 1.0);
    for _ in 0..60 {
        let mid = (lo + hi) / 2.0;
        if tail(mid) > 0.05 { lo = mid } else { hi = mid }
    }
    hi
}
