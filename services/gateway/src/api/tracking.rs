//! The middleware every route passes through: the request's identity ([`RequestContext`]:
//! request id and trace context) made once and handed to the handler, a log span carrying
//! both, one log line per request, and the security headers. Request counts and durations are
//! recorded by `ragmesh_telemetry::RequestMetricsLayer` (see the router).

use crate::request_context::{REQUEST_ID_HEADER, RequestContext};
use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use http::{HeaderValue, header};
use std::time::Instant;
use tracing::Instrument;

/// The middleware: context in, headers and metrics out, everything inside a span with the ids.
pub async fn track(mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    let method = request.method().to_string();
    let span = tracing::info_span!(
        "http",
        service = "gateway",
        otel.name = %format!("{method} {route}"),
        otel.kind = "server",
        trace_id = tracing::field::Empty,
        span_id = tracing::field::Empty,
        request_id = tracing::field::Empty,
        method = %method,
        route = %route,
    );
    let ctx = RequestContext::start(request.headers(), &span);
    span.record("trace_id", ctx.trace_id.as_str());
    span.record("span_id", ctx.span_id.as_str());
    span.record("request_id", ctx.request_id.as_str());
    request.extensions_mut().insert(ctx.clone());
    let mut response = next.run(request).instrument(span.clone()).await;

    let status = response.status().as_u16();
    let elapsed = started.elapsed();
    span.in_scope(|| tracing::info!(status, ms = elapsed.as_secs_f64() * 1e3, "request"));

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
