//! Cost of cache lookups, measured with the real code paths (no embedding):
//!
//! - L1 exact hit;
//! - L1 semantic lookup over 10,000 entries of 384 dimensions in one namespace (the worst
//!   case: one namespace holds everything), hit and miss;
//! - L2 exact hit and L2 semantic hit against the Redis on 127.0.0.1:6379 (loopback), through
//!   [`SemanticCache`] with L1 disabled by using a fresh namespace per lookup... (see below).
//!
//! `cargo bench -p ragmesh-cache --bench cache_lookup` (needs redis-server on 6379 for L2).
//! Prints p50 / p99 / mean per case, plus a baseline: one Redis `PING` round trip.
#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::expect_used)]

use fred::prelude::*;
use ragmesh_cache::local::LocalTier;
use ragmesh_cache::redis_tier::RedisTier;
use ragmesh_cache::vector_index::dot;
use ragmesh_cache::verify::QuerySignature;
use ragmesh_cache::{CachedEntry, Clock, Namespace, normalize_query};
use std::sync::Arc;
use std::time::{Duration, Instant};

const DIM: usize = 384;

/// Deterministic pseudo-random unit vectors (xorshift), so runs are comparable.
fn vectors(n: usize, seed: u64) -> Vec<Vec<f32>> {
    let mut state = seed | 1;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % 20_000) as f32 / 10_000.0 - 1.0
    };
    (0..n)
        .map(|_| {
            let v: Vec<f32> = (0..DIM).map(|_| next()).collect();
            let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            v.into_iter().map(|x| x / norm).collect()
        })
        .collect()
}

fn entry(i: usize, vector: Vec<f32>) -> Arc<CachedEntry> {
    let query = format!("question number {i} about topic {}", i % 97);
    Arc::new(CachedEntry {
        normalized: normalize_query(&query),
        query,
        vector,
        payload: serde_json::json!({ "answer": "x".repeat(2000), "tokens": vec!["a"; 64] }),
        created_ms: 0,
        rendered: Default::default(),
    })
}

fn namespace(generation: u64) -> Namespace {
    Namespace {
        collection: "bench".into(),
        epoch: "e".into(),
        generation,
        params: "p".into(),
    }
}

fn report(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q) as usize];
    let mean = samples.iter().sum::<Duration>() / samples.len() as u32;
    println!(
        "| {name} | {} | {:.1} | {:.1} | {:.1} |",
        samples.len(),
        at(0.5).as_secs_f64() * 1e6,
        at(0.99).as_secs_f64() * 1e6,
        mean.as_secs_f64() * 1e6
    );
}

fn time<T>(n: usize, mut f: impl FnMut(usize) -> T) -> Vec<Duration> {
    (0..n)
        .map(|i| {
            let t = Instant::now();
            std::hint::black_box(f(i));
            t.elapsed()
        })
        .collect()
}

fn main() {
    println!("| case | samples | p50 µs | p99 µs | mean µs |");
    println!("|---|---|---|---|---|");
    let stored = vectors(10_000, 7);
    let l1 = LocalTier::new(Clock::System);
    let ns = namespace(0);
    for (i, v) in stored.iter().enumerate() {
        l1.insert(&ns, entry(i, v.clone()), 3_600_000, 20_000);
    }
    let normalized: Vec<String> = (0..10_000)
        .map(|i| entry(i, vec![]).normalized.clone())
        .collect();
    report(
        "L1 exact hit (10k entries)",
        time(20_000, |i| {
            l1.get_exact(&ns, &normalized[i % 10_000]).is_some()
        }),
    );
    let sig = QuerySignature::of("question number 5 about topic 5");
    report(
        "L1 semantic hit, 10k entries × 384 d",
        time(2_000, |i| {
            l1.get_semantic(&ns, &sig, &stored[i % 10_000], 0.9, false)
                .is_some()
        }),
    );
    let probes = vectors(100, 99);
    // Baseline in the same run: the plain f32 scan the 8-bit prefilter replaces.
    report(
        "baseline: full f32 dot-product scan, 10k × 384 d",
        time(2_000, |i| {
            let q = &probes[i % 100];
            stored.iter().filter(|v| dot(v, q) >= 0.9).count()
        }),
    );
    report(
        "L1 semantic miss, 10k entries × 384 d",
        time(2_000, |i| {
            l1.get_semantic(&ns, &sig, &probes[i % 100], 0.9, true)
                .is_some()
        }),
    );

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let prefix = format!("ragmesh:bench:{}", std::process::id());
        let l2 = RedisTier::start(
            "redis://127.0.0.1:6379",
            &prefix,
            Duration::from_millis(50),
            Clock::System,
        )
        .unwrap();
        let ping = Builder::from_config(Config::from_url("redis://127.0.0.1:6379").unwrap())
            .build()
            .unwrap();
        ping.init().await.expect("redis-server on 127.0.0.1:6379");
        // The tier connects in the background; measure only once it is up.
        let deadline = Instant::now() + Duration::from_secs(10);
        while !l2.health().connected {
            assert!(Instant::now() < deadline, "L2 never connected");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let ns = namespace(1);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        for (i, v) in stored.iter().take(1_000).enumerate() {
            let mut e = (*entry(i, v.clone())).clone();
            e.created_ms = now;
            l2.store(&ns, &e, 600_000, 10_000).await.unwrap();
        }
        let mut samples = Vec::new();
        for _ in 0..2_000 {
            let t = Instant::now();
            let _: String = ping.ping(None).await.unwrap();
            samples.push(t.elapsed());
        }
        report("baseline: Redis PING round trip", samples);
        let mut samples = Vec::new();
        for i in 0..2_000 {
            let t = Instant::now();
            let hit = l2.get_exact(&ns, &normalized[i % 1_000]).await.unwrap();
            samples.push(t.elapsed());
            assert!(hit.is_some());
        }
        report("L2 exact hit (1k entries, 2 KB answer)", samples);
        let mut samples = Vec::new();
        for i in 0..2_000 {
            let t = Instant::now();
            let hit = l2
                .get_semantic(&ns, &sig, &stored[i % 1_000], 0.9, false, 600_000, 10_000)
                .await
                .unwrap();
            samples.push(t.elapsed());
            assert!(hit.is_some());
        }
        report("L2 semantic hit (1k mirrored entries)", samples);
        let keys: Vec<String> = ping.keys_like(&prefix).await;
        let _: i64 = ping.del(keys).await.unwrap_or(0);
    });
}

/// `KEYS prefix*` (fine for a bench's own few thousand keys).
trait KeysLike {
    async fn keys_like(&self, prefix: &str) -> Vec<String>;
}

impl KeysLike for Client {
    async fn keys_like(&self, prefix: &str) -> Vec<String> {
        self.custom(
            fred::types::CustomCommand::new_static("KEYS", None, false),
            vec![format!("{prefix}*")],
        )
        .await
        .unwrap_or_default()
    }
}
