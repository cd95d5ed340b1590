//! Metrics: the process-wide Prometheus recorder ([`recorder`]), the tower layer that meters
//! every HTTP route and gRPC method ([`request_metrics`]) and the small admin listener each
//! gRPC service serves `/metrics` (and `/log-level`) on ([`admin_listener`]).

mod admin_listener;
mod recorder;
mod request_metrics;

pub use admin_listener::{LogLevelBody, admin_router, spawn_admin_listener};
pub use recorder::{metrics_handle, register_service, render_metrics};
pub use request_metrics::{MeteredBody, RequestMetrics, RequestMetricsLayer, grpc_code_name};
