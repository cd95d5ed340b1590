//! W3C trace context (`traceparent: 00-<trace id>-<parent span id>-<flags>`): parsed from an
//! incoming HTTP request or gRPC call, and written into outgoing gRPC metadata, so one query
//! keeps one trace id from the gateway through every backend and into every log line.
//!
//! The gateway calls [`TraceContext::from_headers`] on the HTTP request (a fresh trace when
//! the client sent none), [`TraceContext::child`] for each backend call and
//! [`TraceContext::inject`] into its metadata; the gRPC servers extract it in
//! [`crate::RequestMetricsLayer::grpc`].
//!
//! With OTLP export on, the OTel span is the source of the ids: [`TraceContext::start_span`]
//! gives a new `tracing` span the caller's context as its OTel parent and returns the ids the
//! OTel span got (so the ids in logs, in the query response and in the exported trace are
//! the same), and [`TraceContext::current`] names the innermost OTel span for an outgoing
//! call. With export off both fall back to the ids generated here.

use http::{HeaderMap, HeaderValue};
use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};
use tracing_opentelemetry::OpenTelemetrySpanExt;

pub const TRACEPARENT: &str = "traceparent";

/// The trace a piece of work belongs to and the span that stands for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceContext {
    /// 32 lowercase hex digits, never all zeros.
    pub trace_id: String,
    /// 16 lowercase hex digits: the span this context names (the caller's, when extracted).
    pub span_id: String,
    /// Whether the trace is sampled (flag bit 0).
    pub sampled: bool,
    /// False for a trace started here (nothing came in).
    extracted: bool,
}

impl TraceContext {
    /// A new trace with a random id.
    pub fn new_root() -> TraceContext {
        TraceContext {
            trace_id: random_hex(32),
            span_id: random_hex(16),
            sampled: true,
            extracted: false,
        }
    }

    /// The context from a valid `traceparent` header, or a new root.
    pub fn from_headers(headers: &HeaderMap) -> TraceContext {
        headers
            .get(TRACEPARENT)
            .and_then(|v| v.to_str().ok())
            .and_then(TraceContext::parse)
            .unwrap_or_else(TraceContext::new_root)
    }

    /// Parses a version-00 `traceparent`; None when malformed or when an id is all zeros.
    pub fn parse(value: &str) -> Option<TraceContext> {
        let parts: Vec<&str> = value.trim().split('-').collect();
        let [version, trace_id, span_id, flags] = parts.as_slice() else {
            return None;
        };
        let ok = *version == "00"
            && is_lower_hex(trace_id, 32)
            && is_nonzero(trace_id)
            && is_lower_hex(span_id, 16)
            && is_nonzero(span_id)
            && is_lower_hex(flags, 2);
        if !ok {
            return None;
        }
        let flags = u8::from_str_radix(flags, 16).ok()?;
        Some(TraceContext {
            trace_id: trace_id.to_string(),
            span_id: span_id.to_string(),
            sampled: flags & 1 == 1,
            extracted: true,
        })
    }

    /// True when this context came from a caller (its span is a remote parent).
    pub fn has_parent(&self) -> bool {
        self.extracted
    }

    /// A new span in the same trace (for an outgoing call or a server's own span).
    pub fn child(&self) -> TraceContext {
        TraceContext {
            trace_id: self.trace_id.clone(),
            span_id: random_hex(16),
            sampled: self.sampled,
            extracted: false,
        }
    }

    /// The `traceparent` value naming this context's span as the parent.
    pub fn traceparent(&self) -> String {
        let flags = if self.sampled { "01" } else { "00" };
        format!("00-{}-{}-{flags}", self.trace_id, self.span_id)
    }

    /// Starts `span` as the work of `parent` (a caller's context, or a new root) and returns
    /// the context naming `span`: the OTel span's ids when spans are exported, else
    /// `parent.child()`. Call before the span is first entered.
    pub fn start_span(span: &tracing::Span, parent: &TraceContext) -> TraceContext {
        if !super::otlp::tracing_enabled() {
            return parent.child();
        }
        // A root is set explicitly too: the enclosing `tracing` span (a service's lifetime
        // span) must not become the parent of a request.
        let otel_parent = match parent.otel_span_context().filter(|_| parent.has_parent()) {
            Some(remote) => opentelemetry::Context::new().with_remote_span_context(remote),
            None => opentelemetry::Context::new(),
        };
        let _ = span.set_parent(otel_parent);
        TraceContext::of_span(span).unwrap_or_else(|| parent.child())
    }

    /// The context of the innermost OTel span entered on this task, when spans are exported.
    pub fn current() -> Option<TraceContext> {
        TraceContext::of_span(&tracing::Span::current())
    }

    /// The OTel ids of `span`, None when it has no OTel span (export off, or filtered out).
    fn of_span(span: &tracing::Span) -> Option<TraceContext> {
        if span.is_disabled() || !super::otlp::tracing_enabled() {
            return None;
        }
        let context = span.context();
        let otel = context.span();
        let ids = otel.span_context();
        ids.is_valid().then(|| TraceContext {
            trace_id: ids.trace_id().to_string(),
            span_id: ids.span_id().to_string(),
            sampled: ids.is_sampled(),
            extracted: false,
        })
    }

    /// This context as a remote OTel parent.
    fn otel_span_context(&self) -> Option<SpanContext> {
        let flags = if self.sampled {
            TraceFlags::SAMPLED
        } else {
            TraceFlags::default()
        };
        Some(SpanContext::new(
            TraceId::from_hex(&self.trace_id).ok()?,
            SpanId::from_hex(&self.span_id).ok()?,
            flags,
            true,
            TraceState::default(),
        ))
    }

    /// Writes `traceparent` into gRPC metadata (tonic) or HTTP headers.
    pub fn inject(&self, headers: &mut HeaderMap) {
        if let Ok(value) = HeaderValue::from_str(&self.traceparent()) {
            headers.insert(TRACEPARENT, value);
        }
    }
}

fn is_lower_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn is_nonzero(s: &str) -> bool {
    s.bytes().any(|b| b != b'0')
}

/// `len` random lowercase hex digits (at most 32), never all zeros.
fn random_hex(len: usize) -> String {
    loop {
        let mut hex = uuid::Uuid::new_v4().simple().to_string();
        hex.truncate(len);
        if is_nonzero(&hex) {
            return hex;
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn valid_traceparents_parse_and_bad_ones_start_a_new_trace() {
        let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let ctx = TraceContext::parse(tp).unwrap();
        assert_eq!(ctx.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(ctx.span_id, "00f067aa0ba902b7");
        assert!(ctx.sampled && ctx.has_parent());
        assert_eq!(ctx.traceparent(), tp);
        for bad in [
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "garbage",
        ] {
            assert_eq!(TraceContext::parse(bad), None, "{bad}");
        }
        let mut headers = HeaderMap::new();
        headers.insert(TRACEPARENT, HeaderValue::from_static("garbage"));
        let fresh = TraceContext::from_headers(&headers);
        assert!(!fresh.has_parent());
        assert_eq!(fresh.trace_id.len(), 32);
    }

    #[test]
    fn a_child_keeps_the_trace_and_travels_in_headers() {
        let root = TraceContext::new_root();
        let child = root.child();
        assert_eq!(child.trace_id, root.trace_id);
        assert_ne!(child.span_id, root.span_id);
        assert_eq!(child.span_id.len(), 16);
        let mut headers = HeaderMap::new();
        child.inject(&mut headers);
        let received = TraceContext::from_headers(&headers);
        assert_eq!(received.trace_id, root.trace_id);
        assert_eq!(received.span_id, child.span_id);
        assert!(received.has_parent());
    }
}
