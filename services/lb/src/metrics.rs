//! The series the balancer exports (names are referenced by the Grafana LB dashboard and the
//! `LbUpstreamDown` alert in deploy/, so they are part of the contract):
//!
//! - `ragmesh_lb_upstream_healthy{upstream}` — 1 when the last health check passed and the
//!   upstream is not ejected, 0 otherwise, NaN once it left the upstream set (no data, so the
//!   alert does not fire for an upstream removed on purpose);
//! - `ragmesh_lb_requests_total{upstream,status}` — attempts sent to an upstream, by HTTP
//!   status, or `error` when no response came (a connect failure that was retried counts here
//!   and in retries); requests no upstream could take count under `upstream="none"`;
//! - `ragmesh_lb_retries_total{upstream}` — attempts on `upstream` that failed before any
//!   response byte and were retried on another upstream;
//! - `ragmesh_lb_ejections_total{upstream}` — passive ejections;
//! - `ragmesh_lb_request_duration_seconds{upstream}` — from the request's arrival to the end
//!   of the response body (for SSE: the whole stream);
//! - `ragmesh_lb_in_flight_requests` and `ragmesh_lb_upstreams` — gauges for the dashboard.

pub const UPSTREAM_HEALTHY: &str = "ragmesh_lb_upstream_healthy";
pub const REQUESTS: &str = "ragmesh_lb_requests_total";
pub const RETRIES: &str = "ragmesh_lb_retries_total";
pub const EJECTIONS: &str = "ragmesh_lb_ejections_total";
pub const REQUEST_DURATION: &str = "ragmesh_lb_request_duration_seconds";
pub const IN_FLIGHT: &str = "ragmesh_lb_in_flight_requests";
pub const UPSTREAMS: &str = "ragmesh_lb_upstreams";

/// Label value of requests that found no upstream.
pub const NO_UPSTREAM: &str = "none";

pub fn request(upstream: &str, status: &str, seconds: Option<f64>) {
    metrics::counter!(REQUESTS, "upstream" => upstream.to_string(), "status" => status.to_string())
        .increment(1);
    if let Some(seconds) = seconds {
        metrics::histogram!(REQUEST_DURATION, "upstream" => upstream.to_string()).record(seconds);
    }
}

pub fn retry(upstream: &str) {
    metrics::counter!(RETRIES, "upstream" => upstream.to_string()).increment(1);
}

pub fn ejection(upstream: &str) {
    metrics::counter!(EJECTIONS, "upstream" => upstream.to_string()).increment(1);
}

pub fn healthy(upstream: &str, value: f64) {
    metrics::gauge!(UPSTREAM_HEALTHY, "upstream" => upstream.to_string()).set(value);
}

/// Registers every counter of `upstream` at zero, so dashboards and `increase()` see the
/// series from the moment the upstream joins rather than from its first event.
pub fn register(upstream: &str) {
    for name in [RETRIES, EJECTIONS] {
        metrics::counter!(name, "upstream" => upstream.to_string()).increment(0);
    }
}
