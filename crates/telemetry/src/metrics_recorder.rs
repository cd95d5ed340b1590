//! The process-wide Prometheus recorder. Every `metrics::counter!`/`histogram!` call in any
//! crate lands here; `/metrics` renders it.

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Latency buckets in seconds, from 0.5 ms to 60 s: fits RPCs, retrieval legs and whole answers.
const SECONDS_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    60.0,
];

/// The installed recorder's handle, installing it on first use. Returns None only when
/// another recorder was installed by someone else (never in ragmesh binaries).
pub fn metrics_handle() -> Option<&'static PrometheusHandle> {
    if let Some(handle) = HANDLE.get() {
        return Some(handle);
    }
    let recorder = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS_BUCKETS)
        .ok()?
        .build_recorder();
    let handle = recorder.handle();
    if metrics::set_global_recorder(recorder).is_err() {
        return HANDLE.get();
    }
    let _ = HANDLE.set(handle);
    HANDLE.get()
}

/// The Prometheus text exposition of everything recorded so far.
pub fn render_metrics() -> String {
    metrics_handle().map(|h| h.render()).unwrap_or_default()
}
