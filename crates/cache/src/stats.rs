//! Counters and hit latencies behind `GET /api/cache/stats`, recorded also as `ragmesh_cache_*`
//! metrics so dashboards see the same numbers.

use crate::entry::{MatchKind, Tier};
use parking_lot::Mutex;
use serde::Serialize;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Hit latencies kept for the percentiles.
const LATENCY_WINDOW: usize = 1024;

#[derive(Debug, Default)]
pub struct Counters {
    pub l1_exact: AtomicU64,
    pub l1_semantic: AtomicU64,
    pub l2_exact: AtomicU64,
    pub l2_semantic: AtomicU64,
    pub misses: AtomicU64,
    pub stores: AtomicU64,
    pub l1_evictions: AtomicU64,
    pub l2_evictions: AtomicU64,
    pub expirations: AtomicU64,
    pub invalidations: AtomicU64,
    pub l2_errors: AtomicU64,
    hit_latency_us: Mutex<VecDeque<u64>>,
}

impl Counters {
    pub fn hit(&self, tier: Tier, kind: MatchKind, took: Duration) {
        let counter = match (tier, kind) {
            (Tier::L1, MatchKind::Exact) => &self.l1_exact,
            (Tier::L1, MatchKind::Semantic) => &self.l1_semantic,
            (Tier::L2, MatchKind::Exact) => &self.l2_exact,
            (Tier::L2, MatchKind::Semantic) => &self.l2_semantic,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("ragmesh_cache_hits_total", "tier" => tier.as_str(), "kind" => kind.as_str())
            .increment(1);
        metrics::histogram!("ragmesh_cache_hit_seconds", "tier" => tier.as_str())
            .record(took.as_secs_f64());
        let mut window = self.hit_latency_us.lock();
        if window.len() == LATENCY_WINDOW {
            window.pop_front();
        }
        window.push_back(took.as_micros() as u64);
    }

    pub fn miss(&self) {
        self.misses.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("ragmesh_cache_misses_total").increment(1);
    }

    pub fn add(&self, counter: &AtomicU64, metric: &'static str, tier: &'static str, n: u64) {
        if n == 0 {
            return;
        }
        counter.fetch_add(n, Ordering::Relaxed);
        metrics::counter!(metric, "tier" => tier).increment(n);
    }

    /// (p50, p99) of the recent hit latencies, milliseconds.
    pub fn hit_percentiles_ms(&self) -> (Option<f64>, Option<f64>) {
        let mut values: Vec<u64> = self.hit_latency_us.lock().iter().copied().collect();
        if values.is_empty() {
            return (None, None);
        }
        values.sort_unstable();
        let at = |q: f64| {
            let i = ((values.len() as f64 - 1.0) * q).round() as usize;
            values[i.min(values.len() - 1)] as f64 / 1e3
        };
        (Some(at(0.50)), Some(at(0.99)))
    }
}

/// `GET /api/cache/stats`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CacheStats {
    pub enabled: bool,
    pub hits: TierHits,
    pub misses: u64,
    pub hit_rate: Option<f64>,
    pub stores: u64,
    pub evictions: TierCounts,
    pub expirations: u64,
    pub invalidations: u64,
    pub sizes: TierSizes,
    pub l2: L2Status,
    pub hit_latency_ms: Latency,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TierHits {
    pub l1_exact: u64,
    pub l1_semantic: u64,
    pub l2_exact: u64,
    pub l2_semantic: u64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TierCounts {
    pub l1: u64,
    pub l2: u64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TierSizes {
    pub l1_entries: usize,
    /// Entries of L2 this gateway has mirrored into its local semantic index.
    pub l2_mirrored_entries: usize,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct L2Status {
    pub configured: bool,
    /// `disabled`, `closed` (healthy), `open` (skipped after failures) or `half_open`.
    pub state: String,
    pub connected: bool,
    pub errors: u64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Latency {
    pub p50: Option<f64>,
    pub p99: Option<f64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_come_from_recorded_hits() {
        let c = Counters::default();
        assert_eq!(c.hit_percentiles_ms(), (None, None));
        for us in 1..=100 {
            c.hit(Tier::L1, MatchKind::Exact, Duration::from_micros(us * 10));
        }
        let (p50, p99) = c.hit_percentiles_ms();
        assert_eq!(p50, Some(0.51));
        assert_eq!(p99, Some(0.99));
        assert_eq!(c.l1_exact.load(Ordering::Relaxed), 100);
    }
}
