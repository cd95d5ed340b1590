//! Traces: W3C trace context carried from the gateway's HTTP request into every backend call
//! ([`trace_context`]), and, with `telemetry.otlp_endpoint` set, export of `tracing` spans as
//! OpenTelemetry spans over OTLP/gRPC ([`otlp`]) through a bounded, counted queue
//! ([`span_queue`]), plus spans for steps timed elsewhere ([`step_span`]).

mod otlp;
mod span_queue;
mod step_span;
mod trace_context;

pub(crate) use otlp::otlp_layer;
pub use otlp::{shutdown_tracing, tracing_enabled};
pub use span_queue::{EXPORT_FAILURES, SPANS_DROPPED};
pub use step_span::{record_step_span, started_before_now};
pub use trace_context::{TRACEPARENT, TraceContext};
