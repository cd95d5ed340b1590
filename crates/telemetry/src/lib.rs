//! Process-wide telemetry shared by every ragmesh binary, set up in one place:
//!
//! 1. [`init_logging`] installs the `tracing` subscriber first (JSON lines for Loki with
//!    service, instance, trace and span ids, written in batches by one thread and flushed by
//!    [`flush_logs`] at exit, or human lines for a terminal), with a filter that
//!    [`set_log_level`] changes at run time;
//! 2. [`metrics_handle`] installs the Prometheus recorder (per-quantity histogram buckets);
//!    [`RequestMetricsLayer`] meters every HTTP route and gRPC method of a server, and opens
//!    the gRPC server span carrying the caller's trace context;
//! 3. [`TraceContext`] carries the W3C `traceparent` from the gateway's HTTP request into the
//!    metadata of every backend call;
//! 4. [`spawn_admin_listener`] serves `/metrics` and `/log-level` next to each gRPC service;
//! 5. [`shutdown_token`] is cancelled on Ctrl-C / SIGTERM;
//! 6. with `telemetry.otlp_endpoint` set, `tracing` spans are exported as OpenTelemetry spans
//!    over OTLP/gRPC ([`traces`]); [`TraceContext::start_span`] gives a server span the
//!    caller's trace so the OTel ids equal the ids in logs and responses, and
//!    [`shutdown_tracing`] flushes at exit.
//!
//! `ragmesh up` runs all services in one process, so every installer is idempotent: the
//! first call installs, later calls reuse what is installed, and one registry holds the
//! series of every service (told apart by their `service` label).
//!
//! One folder per signal: `logs/` (subscriber, JSON lines, writer, level), `metrics/`
//! (recorder, request metrics, admin listener), `traces/` (trace context, OTLP export, span
//! queue, step spans); `resource` is the service identity logs and traces both carry, so
//! neither imports the other.

mod logs;
mod metrics;
mod resource;
mod shutdown;
mod traces;

pub use crate::metrics::{
    LogLevelBody, MeteredBody, RequestMetrics, RequestMetricsLayer, admin_router, grpc_code_name,
    metrics_handle, register_service, render_metrics, spawn_admin_listener,
};
pub use logs::{BatchedStdout, JsonLines, flush_logs, init_logging, log_level, set_log_level};
pub use shutdown::{shutdown_token, wait_for_signal};
pub use traces::{
    EXPORT_FAILURES, SPANS_DROPPED, TRACEPARENT, TraceContext, record_step_span, shutdown_tracing,
    started_before_now, tracing_enabled,
};

use ragmesh_core::{Classify, ErrorCode};

/// Errors while installing or adjusting telemetry.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("invalid log level {0:?}: {1}")]
    Filter(String, String),
    #[error("cannot install the Prometheus recorder: {0}")]
    Recorder(String),
    #[error("logging is not installed by ragmesh in this process, so its level cannot change")]
    NoLogging,
    #[error("cannot change the log level: {0}")]
    Reload(String),
    #[error("cannot listen on {0} for metrics: {1}")]
    Listen(String, #[source] std::io::Error),
    #[error("cannot build the OTLP trace exporter for {0}: {1}")]
    Exporter(String, String),
}

impl Classify for TelemetryError {
    fn code(&self) -> ErrorCode {
        match self {
            TelemetryError::Filter(..) => ErrorCode::InvalidArgument,
            TelemetryError::NoLogging => ErrorCode::Unavailable,
            TelemetryError::Recorder(_)
            | TelemetryError::Reload(_)
            | TelemetryError::Listen(..)
            | TelemetryError::Exporter(..) => ErrorCode::Internal,
        }
    }
}
