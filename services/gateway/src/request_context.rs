//! Per-request identity and bookkeeping, applied to every route in one middleware: the
//! `X-Request-ID` (kept when the client sent a sane one), the W3C trace id (from `traceparent`
//! or random), a log span carrying both, the security headers, and the HTTP metrics. The ids
//! travel on to the backends as gRPC metadata so one query can be followed across services.

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use http::{HeaderMap, HeaderValue, header};
use std::time::{Duration, Instant};
use tracing::Instrument;

pub const REQUEST_ID_HEADER: &str = "x-request-id";
const TRACEPARENT_HEADER: &str = "traceparent";
/// Longest client-supplied request id that is kept; longer or odd ones are replaced.
const MAX_REQUEST_ID_LEN: usize = 128;

/// Who this request is, for logs, responses and backend calls.
#[derive(Debug, Clone)]
pub struct RequestContext {
    /// 32 lowercase hex digits.
    pub trace_id: String,
    pub request_id: String,
}

impl RequestContext {
    /// Ids from the request headers, or fresh ones.
    pub fn from_headers(headers: &HeaderMap) -> RequestContext {
        let trace_id = headers
            .get(TRACEPARENT_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(trace_id_from_traceparent)
            .unwrap_or_else(random_hex32);
        let request_id = headers
            .get(REQUEST_ID_HEADER)
            .and_then(|v| v.to_str().ok())
            .filter(|id| is_sane_request_id(id))
            .map(str::to_string)
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        RequestContext {
            trace_id,
            request_id,
        }
    }

    /// A gRPC request carrying `message`, the deadline and this request's ids.
    pub fn grpc_request<T>(&self, message: T, timeout: Duration) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        request.set_timeout(timeout);
        let span_id = &random_hex32()[..16];
        let metadata = request.metadata_mut();
        if let Ok(value) = format!("00-{}-{span_id}-01", self.trace_id).parse() {
            metadata.insert(TRACEPARENT_HEADER, value);
        }
        if let Ok(value) = self.request_id.parse() {
            metadata.insert(REQUEST_ID_HEADER, value);
        }
        request
    }
}

/// The trace id of a version-00 W3C `traceparent` (`00-<32 hex>-<16 hex>-<2 hex>`), if valid
/// and not all zeros.
pub fn trace_id_from_traceparent(value: &str) -> Option<String> {
    let parts: Vec<&str> = value.trim().split('-').collect();
    let [version, trace_id, parent_id, flags] = parts.as_slice() else {
        return None;
    };
    let lower_hex = |s: &str, len: usize| {
        s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    };
    let nonzero = |s: &str| s.bytes().any(|b| b != b'0');
    let ok = *version == "00"
        && lower_hex(trace_id, 32)
        && nonzero(trace_id)
        && lower_hex(parent_id, 16)
        && nonzero(parent_id)
        && lower_hex(flags, 2);
    ok.then(|| trace_id.to_string())
}

fn is_sane_request_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_REQUEST_ID_LEN && id.bytes().all(|b| b.is_ascii_graphic())
}

/// 32 random lowercase hex digits.
pub fn random_hex32() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// The middleware: context in, headers and metrics out, everything inside a span with the ids.
pub async fn track(mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let ctx = RequestContext::from_headers(request.headers());
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    let method = request.method().to_string();
    let span = tracing::info_span!(
        "http",
        trace_id = %ctx.trace_id,
        request_id = %ctx.request_id,
        method = %method,
        route = %route,
    );
    request.extensions_mut().insert(ctx.clone());
    let mut response = next.run(request).instrument(span.clone()).await;

    let status = response.status().as_u16();
    let elapsed = started.elapsed();
    span.in_scope(|| tracing::info!(status, ms = elapsed.as_secs_f64() * 1e3, "request"));
    metrics::counter!(
        "ragmesh_http_requests_total",
        "route" => route.clone(),
        "method" => method,
        "status" => status.to_string()
    )
    .increment(1);
    metrics::histogram!("ragmesh_http_request_duration_seconds", "route" => route)
        .record(elapsed.as_secs_f64());

    let headers = response.headers_mut();
    if let Ok(id) = HeaderValue::from_str(&ctx.request_id) {
        headers.insert(REQUEST_ID_HEADER, id);
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn traceparent_supplies_the_trace_id_only_when_valid() {
        let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        assert_eq!(
            trace_id_from_traceparent(tp).as_deref(),
            Some("4bf92f3577b34da6a3ce929d0e0e4736")
        );
        for bad in [
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "garbage",
        ] {
            assert_eq!(trace_id_from_traceparent(bad), None, "{bad}");
        }
    }

    #[test]
    fn fresh_ids_are_32_lowercase_hex_and_differ() {
        let a = RequestContext::from_headers(&HeaderMap::new());
        let b = RequestContext::from_headers(&HeaderMap::new());
        assert_eq!(a.trace_id.len(), 32);
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
