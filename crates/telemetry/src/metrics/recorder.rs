//! The process-wide Prometheus recorder. Every `metrics::counter!`/`histogram!`/`gauge!` call
//! in any crate lands here; `/metrics` (the gateway's route, each backend's admin listener)
//! renders it.
//!
//! Every histogram is a Prometheus histogram (never a summary, which cannot be aggregated
//! across instances), with buckets chosen for its quantity: request and step latencies,
//! time to first token, whole generations, token counts, decode rates and batch sizes each get
//! their own. Naming rule: `ragmesh_<area>_<what>_<unit>`, counters end in `_total`.

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Latency in seconds, 0.5 ms to 60 s: RPCs, retrieval legs, HTTP requests. 2 s is a bucket
/// edge because the query latency objective is "95 % under 2 s" (the SLO burn alert reads it).
pub const LATENCY_SECONDS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0,
    60.0,
];
/// Time to first token, 10 ms to 30 s: dominated by the prompt pass over the contexts.
pub const FIRST_TOKEN_SECONDS: &[f64] = &[
    0.01, 0.025, 0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0,
];
/// Token counts per request (prompt or answer), 8 to 8192.
pub const TOKENS: &[f64] = &[
    8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0, 2048.0, 4096.0, 8192.0,
];
/// Decode speed, 1 to 500 tokens/s (CPU models run at 10–100).
pub const TOKENS_PER_SECOND: &[f64] = &[
    1.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 70.0, 100.0, 150.0, 250.0, 500.0,
];
/// Texts per embedding forward pass, 1 to 1024.
pub const BATCH_SIZE: &[f64] = &[
    1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0,
];

/// Histograms whose quantity is not a short latency, by full name.
const OVERRIDES: &[(&str, &[f64])] = &[
    (
        "ragmesh_generation_time_to_first_token_seconds",
        FIRST_TOKEN_SECONDS,
    ),
    ("ragmesh_generation_prompt_tokens", TOKENS),
    ("ragmesh_generation_answer_tokens", TOKENS),
    (
        "ragmesh_generation_decode_tokens_per_second",
        TOKENS_PER_SECOND,
    ),
    ("ragmesh_embed_batch_size", BATCH_SIZE),
    ("ragmesh_rerank_batch_size", BATCH_SIZE),
];

fn builder() -> Option<PrometheusBuilder> {
    let mut builder = PrometheusBuilder::new().set_buckets(LATENCY_SECONDS).ok()?;
    for (name, buckets) in OVERRIDES {
        builder = builder
            .set_buckets_for_metric(Matcher::Full((*name).to_string()), buckets)
            .ok()?;
    }
    Some(builder)
}

/// The installed recorder's handle, installing it on first use. Returns None only when
/// another recorder was installed by someone else (never in ragmesh binaries).
pub fn metrics_handle() -> Option<&'static PrometheusHandle> {
    if let Some(handle) = HANDLE.get() {
        return Some(handle);
    }
    let recorder = builder()?.build_recorder();
    let handle = recorder.handle();
    if metrics::set_global_recorder(recorder).is_err() {
        return HANDLE.get();
    }
    let _ = HANDLE.set(handle);
    let handle = HANDLE.get()?;
    metrics::gauge!(
        "ragmesh_build_info",
        "version" => env!("CARGO_PKG_VERSION")
    )
    .set(1.0);
    Some(handle)
}

/// Marks `service` as running in this process: `ragmesh_service_info{service} 1` (under
/// `ragmesh up` every service of the process shows up here).
pub fn register_service(service: &'static str) {
    let _ = metrics_handle();
    metrics::gauge!("ragmesh_service_info", "service" => service).set(1.0);
}

/// The Prometheus text exposition of everything recorded so far.
pub fn render_metrics() -> String {
    metrics_handle().map(|h| h.render()).unwrap_or_default()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn histograms_get_the_buckets_of_their_quantity() {
        let recorder = builder().unwrap().build_recorder();
        let handle = recorder.handle();
        metrics::with_local_recorder(&recorder, || {
            metrics::histogram!("ragmesh_generation_time_to_first_token_seconds").record(0.3);
            metrics::histogram!("ragmesh_embed_batch_size").record(32.0);
            metrics::histogram!("ragmesh_rpc_request_duration_seconds").record(0.002);
        });
        let text = handle.render();
        assert!(
            text.contains("ragmesh_generation_time_to_first_token_seconds_bucket{le=\"0.35\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("ragmesh_embed_batch_size_bucket{le=\"32\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("ragmesh_rpc_request_duration_seconds_bucket{le=\"0.0025\"} 1"),
            "{text}"
        );
        assert!(!text.contains("quantile"), "no summaries: {text}");
    }
}
