//! Spans for steps timed elsewhere: work that runs on a compute-pool thread (where no
//! `tracing` span is entered) or that is only known as a duration once it ends (the
//! per-query profile). [`record_step_span`] exports such a step as a child of a `tracing`
//! span with the measured start and end, so the trace shows the same numbers as the
//! response's `profile`. Nothing happens when spans are not exported.

use opentelemetry::trace::{Span as _, TraceContextExt, Tracer as _};
use std::time::{Duration, SystemTime};
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// Exports `name` from `start` to `start + duration` as a child of `parent`.
pub fn record_step_span(parent: &tracing::Span, name: &str, start: SystemTime, duration: Duration) {
    let Some(tracer) = super::otlp::tracer() else {
        return;
    };
    if parent.is_disabled() {
        return;
    }
    let cx = parent.context();
    if !cx.span().span_context().is_valid() {
        return;
    }
    let mut span = tracer
        .span_builder(name.to_string())
        .with_start_time(start)
        .start_with_context(tracer, &cx);
    span.end_with_timestamp(start + duration);
}

/// A step that ended now and took `duration`: its start, for [`record_step_span`].
pub fn started_before_now(duration: Duration) -> SystemTime {
    SystemTime::now()
        .checked_sub(duration)
        .unwrap_or_else(SystemTime::now)
}
