//! The recent-query window behind `GET /api/profile/stats`: the per-step timings of the last
//! queries this gateway answered (at most [`MAX_QUERIES`], none older than [`WINDOW`]), and
//! their p50/p95 per step, naming the step that dominates — the top-level step with the most
//! total time in the window, i.e. the one worth making faster.
//!
//! The timings are the same ones each response carries under `profile` (see [`crate::query::profile`]),
//! so the stats and the responses never disagree. One window per gateway (it lives in the
//! pipeline, see `crate::query::pipeline::Pipeline::profile_window`).

use crate::query::profile::ProfileReport;
use parking_lot::Mutex;
use serde::Serialize;
use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

/// Most queries kept.
pub const MAX_QUERIES: usize = 1000;
/// Oldest query kept.
pub const WINDOW: Duration = Duration::from_secs(15 * 60);

/// Recent query profiles, oldest first.
#[derive(Debug, Default)]
pub struct ProfileWindow {
    entries: Mutex<VecDeque<(Instant, ProfileReport)>>,
}

/// Statistics of one step over the window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepStats {
    pub step: String,
    /// Queries in which the step ran.
    pub count: usize,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub mean_ms: f64,
    /// Share of all top-level step time in the window (0..=1); None for sub-steps.
    pub share: Option<f64>,
}

/// What `GET /api/profile/stats` answers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProfileStats {
    pub queries: usize,
    pub window_seconds: u64,
    pub total_ms: Option<StepStats>,
    /// Top-level steps first (by total time, largest first), then sub-steps by name.
    pub steps: Vec<StepStats>,
    /// The top-level step with the most total time; None when no query ran yet.
    pub dominant_step: Option<String>,
}

impl ProfileWindow {
    /// Adds one finished query's profile.
    pub fn record(&self, report: &ProfileReport) {
        self.record_at(Instant::now(), report);
    }

    fn record_at(&self, now: Instant, report: &ProfileReport) {
        let mut entries = self.entries.lock();
        entries.push_back((now, report.clone()));
        while entries.len() > MAX_QUERIES {
            entries.pop_front();
        }
    }

    /// The statistics of the queries still inside the window at `now`.
    pub fn stats(&self) -> ProfileStats {
        self.stats_at(Instant::now())
    }

    fn stats_at(&self, now: Instant) -> ProfileStats {
        let reports: Vec<ProfileReport> = {
            let mut entries = self.entries.lock();
            while entries
                .front()
                .is_some_and(|(at, _)| now.saturating_duration_since(*at) > WINDOW)
            {
                entries.pop_front();
            }
            entries.iter().map(|(_, r)| r.clone()).collect()
        };
        summarise(&reports)
    }
}

fn summarise(reports: &[ProfileReport]) -> ProfileStats {
    let mut per_step: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for report in reports {
        for step in &report.steps {
            per_step.entry(&step.name).or_default().push(step.ms);
        }
    }
    let top_level_total: f64 = per_step
        .iter()
        .filter(|(name, _)| !name.contains('.'))
        .map(|(_, ms)| ms.iter().sum::<f64>())
        .sum();
    let mut steps: Vec<StepStats> = per_step
        .into_iter()
        .map(|(name, mut ms)| {
            let sum: f64 = ms.iter().sum();
            let mut stats = step_stats(name, &mut ms);
            if !name.contains('.') && top_level_total > 0.0 {
                stats.share = Some(round3(sum / top_level_total));
            }
            stats
        })
        .collect();
    // Top-level by share (largest first), then sub-steps by name.
    steps.sort_by(|a, b| match (a.share, b.share) {
        (Some(x), Some(y)) => y.total_cmp(&x).then_with(|| a.step.cmp(&b.step)),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a.step.cmp(&b.step),
    });
    let dominant_step = steps
        .first()
        .filter(|s| s.share.is_some())
        .map(|s| s.step.clone());
    let mut totals: Vec<f64> = reports.iter().map(|r| r.total_ms).collect();
    ProfileStats {
        queries: reports.len(),
        window_seconds: WINDOW.as_secs(),
        total_ms: (!totals.is_empty()).then(|| step_stats("total", &mut totals)),
        steps,
        dominant_step,
    }
}

fn step_stats(name: &str, ms: &mut [f64]) -> StepStats {
    ms.sort_by(f64::total_cmp);
    let mean = ms.iter().sum::<f64>() / ms.len().max(1) as f64;
    StepStats {
        step: name.to_string(),
        count: ms.len(),
        p50_ms: round3(percentile(ms, 0.50)),
        p95_ms: round3(percentile(ms, 0.95)),
        mean_ms: round3(mean),
        share: None,
    }
}

/// Nearest-rank percentile of sorted values (0 for none).
fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::query::profile::Step;

    fn report(steps: &[(&str, f64)]) -> ProfileReport {
        ProfileReport {
            steps: steps
                .iter()
                .map(|(n, ms)| Step {
                    name: n.to_string(),
                    ms: *ms,
                    detail: None,
                })
                .collect(),
            total_ms: steps
                .iter()
                .filter(|(n, _)| !n.contains('.'))
                .map(|(_, m)| m)
                .sum(),
            bottleneck: None,
        }
    }

    #[test]
    fn percentiles_and_the_dominant_step_come_from_the_window() {
        let window = ProfileWindow::default();
        let now = Instant::now();
        // 20 queries: retrieve 10..=29 ms, generate 100 ms except one slow 900 ms answer.
        for i in 0..20 {
            let generate = if i == 7 { 900.0 } else { 100.0 };
            window.record_at(
                now,
                &report(&[
                    ("retrieve", 10.0 + i as f64),
                    ("retrieve.embed", 5.0),
                    ("generate", generate),
                ]),
            );
        }
        let stats = window.stats_at(now);
        assert_eq!(stats.queries, 20);
        assert_eq!(stats.dominant_step.as_deref(), Some("generate"));
        let retrieve = stats.steps.iter().find(|s| s.step == "retrieve").unwrap();
        assert_eq!(
            (retrieve.count, retrieve.p50_ms, retrieve.p95_ms),
            (20, 19.0, 28.0)
        );
        let generate = &stats.steps[0];
        assert_eq!(generate.step, "generate");
        assert_eq!((generate.p50_ms, generate.p95_ms), (100.0, 100.0));
        assert_eq!(generate.mean_ms, 140.0);
        let embed = stats.steps.last().unwrap();
        assert_eq!((embed.step.as_str(), embed.share), ("retrieve.embed", None));
        let share_sum: f64 = stats.steps.iter().filter_map(|s| s.share).sum();
        assert!((share_sum - 1.0).abs() < 0.01, "{share_sum}");
    }

    #[test]
    fn old_queries_leave_the_window_and_size_is_bounded() {
        let window = ProfileWindow::default();
        let start = Instant::now();
        window.record_at(start, &report(&[("generate", 5000.0)]));
        let later = start + WINDOW + Duration::from_secs(1);
        window.record_at(later, &report(&[("retrieve", 3.0)]));
        let stats = window.stats_at(later);
        assert_eq!(stats.queries, 1);
        assert_eq!(stats.dominant_step.as_deref(), Some("retrieve"));

        for _ in 0..(MAX_QUERIES + 5) {
            window.record_at(later, &report(&[("retrieve", 1.0)]));
        }
        assert_eq!(window.stats_at(later).queries, MAX_QUERIES);
        assert_eq!(ProfileWindow::default().stats().dominant_step, None);
    }
}
