//! Per-request identity: the `X-Request-ID` (kept when the client sent a sane one) and the
//! W3C trace context (from `traceparent` or a new trace), made once per request by the
//! middleware in `crate::api::tracking`. The trace context travels on to the backends as
//! gRPC metadata (`traceparent`, the gateway's span as parent) so one query can be followed
//! across services: a [`RequestContext`] is the [`CallContext`] of every backend call.
//!
//! With trace export on, the `http` span is the gateway's OTel server span: its ids are the
//! request's ids (so the response's `trace_id` finds the exported trace), and each backend
//! call names the innermost entered span (a step span such as `retrieve`) as its parent.

use http::HeaderMap;
use ragmesh_retrieval_client::CallContext;
use ragmesh_telemetry::TraceContext;
use std::time::Duration;
use tonic::metadata::MetadataMap;

pub use ragmesh_retrieval_client::call::REQUEST_ID_HEADER;
/// Longest client-supplied request id that is kept; longer or odd ones are replaced.
const MAX_REQUEST_ID_LEN: usize = 128;

/// Who this request is, for logs, responses and backend calls.
#[derive(Debug, Clone)]
pub struct RequestContext {
    /// 32 lowercase hex digits: the client's trace (valid `traceparent`) or a new one.
    pub trace_id: String,
    /// 16 lowercase hex digits: this request's span in the gateway, parent of backend calls.
    pub span_id: String,
    pub request_id: String,
}

impl RequestContext {
    /// Ids from the request headers, or fresh ones.
    pub fn from_headers(headers: &HeaderMap) -> RequestContext {
        RequestContext::start(headers, &tracing::Span::none())
    }

    /// Ids for `span`, the request's span, started as a child of the client's span (if any).
    pub fn start(headers: &HeaderMap, span: &tracing::Span) -> RequestContext {
        let trace = TraceContext::start_span(span, &TraceContext::from_headers(headers));
        let request_id = headers
            .get(REQUEST_ID_HEADER)
            .and_then(|v| v.to_str().ok())
            .filter(|id| is_sane_request_id(id))
            .map(str::to_string)
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        RequestContext {
            trace_id: trace.trace_id,
            span_id: trace.span_id,
            request_id,
        }
    }

    /// A gRPC request carrying `message`, the deadline, this request's id and a
    /// `traceparent` naming the gateway's span as the parent.
    pub fn grpc_request<T>(&self, message: T, timeout: Duration) -> tonic::Request<T> {
        ragmesh_retrieval_client::grpc_request(self, message, timeout)
    }
}

impl CallContext for RequestContext {
    fn stamp(&self, metadata: &mut MetadataMap) {
        // The innermost span of this request on this task (a step), else the request's span.
        let (parent, flags) = match TraceContext::current().filter(|c| c.trace_id == self.trace_id)
        {
            Some(current) => (current.span_id, if current.sampled { "01" } else { "00" }),
            None => (self.span_id.clone(), "01"),
        };
        let traceparent = format!("00-{}-{parent}-{flags}", self.trace_id);
        if let Ok(value) = traceparent.parse() {
            metadata.insert(ragmesh_telemetry::TRACEPARENT, value);
        }
        if let Ok(value) = self.request_id.parse() {
            metadata.insert(REQUEST_ID_HEADER, value);
        }
    }
}

fn is_sane_request_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_REQUEST_ID_LEN && id.bytes().all(|b| b.is_ascii_graphic())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn the_clients_trace_is_kept_and_backend_calls_name_the_gateway_span() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "traceparent",
            HeaderValue::from_static("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
        );
        let ctx = RequestContext::from_headers(&headers);
        assert_eq!(ctx.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_ne!(ctx.span_id, "00f067aa0ba902b7");
        let request = ctx.grpc_request((), Duration::from_secs(1));
        let sent = request
            .metadata()
            .get("traceparent")
            .unwrap()
            .to_str()
            .unwrap();
        assert_eq!(
            sent,
            format!("00-4bf92f3577b34da6a3ce929d0e0e4736-{}-01", ctx.span_id)
        );
    }

    #[test]
    fn fresh_ids_are_lowercase_hex_and_differ() {
        let a = RequestContext::from_headers(&HeaderMap::new());
        let b = RequestContext::from_headers(&HeaderMap::new());
        assert_eq!((a.trace_id.len(), a.span_id.len()), (32, 16));
        assert!(
            a.trace_id
                .bytes()
                .all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'))
        );
        assert_ne!(a.trace_id, b.trace_id);
        assert_ne!(a.request_id, b.request_id);
    }

    #[test]
    fn client_request_ids_are_kept_when_sane() {
        let mut headers = HeaderMap::new();
        headers.insert(REQUEST_ID_HEADER, HeaderValue::from_static("abc-123"));
        assert_eq!(RequestContext::from_headers(&headers).request_id, "abc-123");
        headers.insert(REQUEST_ID_HEADER, HeaderValue::from_static("has space"));
        assert_ne!(
            RequestContext::from_headers(&headers).request_id,
            "has space"
        );
    }
}
