//! The per-query profile: how long each step took, measured where it happened, and which
//! top-level step was the bottleneck. Sub-steps (`retrieve.embed`, `generate.first_token`)
//! explain a step and never compete with it for the bottleneck. Every step is also recorded
//! as `ragmesh_query_step_duration_seconds{step}`.
//!
//! With trace export on, each step that has no span of its own (the whole `cache` lookup,
//! query expansion, time to first token) is also exported as a child span of the request's
//! span with the same duration; `retrieve`, `rerank`, `generate` and the `cache.*` lookups are
//! real spans around their work (see [`crate::query::pipeline`], [`crate::answer_cache`]) and
//! `retrieve.*` are spans of the retrieval service.

use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant, SystemTime};

/// Steps that are spans of their own (around the backend call), so the profile does not
/// export them a second time.
const OWN_SPANS: [&str; 6] = [
    "retrieve",
    "rerank",
    "generate",
    "cache.exact",
    "cache.embed",
    "cache.semantic",
];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    pub name: String,
    pub ms: f64,
    /// What the step worked on, when that explains it (e.g. a generated sub-question).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// What a response carries under `"profile"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProfileReport {
    pub steps: Vec<Step>,
    pub total_ms: f64,
    /// The top-level step with the most milliseconds; None only when no step ran.
    pub bottleneck: Option<String>,
}

/// Collects steps while a query runs.
#[derive(Debug)]
pub struct Profile {
    started: Instant,
    steps: Vec<Step>,
    /// The span the query runs in (the request's), parent of the exported step spans.
    span: tracing::Span,
}

impl Profile {
    pub fn start() -> Profile {
        Profile {
            started: Instant::now(),
            steps: Vec::new(),
            span: tracing::Span::current(),
        }
    }

    /// Records a step that ended now.
    pub fn record(&mut self, name: impl Into<String>, ms: f64) {
        let ms = ms.max(0.0);
        let start = ragmesh_telemetry::started_before_now(Duration::from_secs_f64(ms / 1e3));
        self.record_started(name, ms, start);
    }

    /// Records a step that started at `start` (wall clock, for its exported span).
    pub fn record_started(&mut self, name: impl Into<String>, ms: f64, start: SystemTime) {
        let name = name.into();
        let ms = ms.max(0.0);
        if !OWN_SPANS.contains(&name.as_str()) && !name.starts_with("retrieve.") {
            let duration = Duration::from_secs_f64(ms / 1e3);
            ragmesh_telemetry::record_step_span(&self.span, &name, start, duration);
        }
        metrics::histogram!("ragmesh_query_step_duration_seconds", "step" => name.clone())
            .record(ms / 1e3);
        self.steps.push(Step {
            name,
            ms: round_ms(ms),
            detail: None,
        });
    }

    /// Records a step with what it worked on.
    pub fn record_detail(&mut self, name: impl Into<String>, elapsed: Duration, detail: String) {
        self.record_duration(name, elapsed);
        if let Some(step) = self.steps.last_mut() {
            step.detail = Some(detail);
        }
    }

    /// Says what the last recorded step worked on.
    pub fn detail_last(&mut self, detail: String) {
        if let Some(step) = self.steps.last_mut() {
            step.detail = Some(detail);
        }
    }

    pub fn record_duration(&mut self, name: impl Into<String>, elapsed: Duration) {
        self.record(name, elapsed.as_secs_f64() * 1e3);
    }

    /// The report as of now (total = time since [`Profile::start`]).
    pub fn report(&self) -> ProfileReport {
        ProfileReport {
            steps: self.steps.clone(),
            total_ms: round_ms(self.started.elapsed().as_secs_f64() * 1e3),
            bottleneck: bottleneck(&self.steps).map(str::to_string),
        }
    }
}

/// The top-level step (no `.` in its name) with the most milliseconds; the first on ties.
pub fn bottleneck(steps: &[Step]) -> Option<&str> {
    let mut best: Option<&Step> = None;
    for step in steps.iter().filter(|s| !s.name.contains('.')) {
        if best.is_none_or(|b| step.ms > b.ms) {
            best = Some(step);
        }
    }
    best.map(|s| s.name.as_str())
}

/// Microsecond precision is plenty for a profile and keeps the JSON readable.
fn round_ms(ms: f64) -> f64 {
    (ms * 1000.0).round() / 1000.0
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn step(name: &str, ms: f64) -> Step {
        Step {
            name: name.into(),
            ms,
            detail: None,
        }
    }

    #[test]
    fn bottleneck_is_the_slowest_top_level_step() {
        let steps = [
            step("retrieve", 40.0),
            step("retrieve.embed", 35.0),
            step("rerank", 12.0),
            step("generate.first_token", 300.0),
            step("generate", 250.0),
        ];
        assert_eq!(bottleneck(&steps), Some("generate"));
        let steps = [
            step("retrieve", 90.0),
            step("retrieve.vector", 500.0),
            step("generate", 80.0),
        ];
        assert_eq!(bottleneck(&steps), Some("retrieve"));
        assert_eq!(bottleneck(&[step("a", 1.0), step("b", 1.0)]), Some("a"));
        assert_eq!(bottleneck(&[]), None);
    }

    #[test]
    fn report_keeps_order_and_rounds() {
        let mut profile = Profile::start();
        profile.record("retrieve", 1.23456789);
        profile.record("retrieve.embed", -3.0);
        let report = profile.report();
        assert_eq!(
            report.steps,
            vec![step("retrieve", 1.235), step("retrieve.embed", 0.0)]
        );
        assert_eq!(report.bottleneck.as_deref(), Some("retrieve"));
        assert!(report.total_ms >= 0.0);
    }
}
