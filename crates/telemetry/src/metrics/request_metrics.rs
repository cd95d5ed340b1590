//! One tower layer that meters every request a ragmesh server answers, so no handler has to
//! remember to: the axum gateway gets `ragmesh_http_requests_total{service,route,method,status}`
//! and `ragmesh_http_request_duration_seconds{service,route,method}`; each tonic server gets
//! `ragmesh_rpc_requests_total{service,rpc,code}` and
//! `ragmesh_rpc_request_duration_seconds{service,rpc}`.
//!
//! The duration runs until the response body has been sent in full (or dropped), so a
//! streaming answer is measured to its last token. The gRPC code is read where gRPC puts it:
//! the `grpc-status` header of a trailers-only response, else the trailers at the end of the
//! body; a body dropped before its trailers counts as `cancelled` (the client went away).
//!
//! For gRPC the layer also opens the server span of the call (`rpc`, with `service`, `rpc`,
//! `trace_id`, `span_id` and `parent_span_id` taken from the caller's W3C `traceparent`), so
//! every log line a handler writes carries the trace id of the query it serves, and writes one
//! `info` access line per call (`rpc`, with code and milliseconds).

use crate::traces::TraceContext;
use bytes::Bytes;
use futures::future::BoxFuture;
use http::{HeaderMap, Request, Response};
use http_body::{Body, Frame, SizeHint};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;
use tower::{Layer, Service};
use tracing::Instrument;

/// Which protocol a server speaks, which decides the labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    Http,
    Grpc,
}

/// Meters every request of the wrapped server; see the module docs for the series.
#[derive(Debug, Clone, Copy)]
pub struct RequestMetricsLayer {
    service: &'static str,
    protocol: Protocol,
}

impl RequestMetricsLayer {
    /// For an axum router: the route label is the matched route pattern (`/api/collections/{collection}/documents`),
    /// `unmatched` for paths no route serves, so label values stay bounded.
    pub fn http(service: &'static str) -> RequestMetricsLayer {
        RequestMetricsLayer {
            service,
            protocol: Protocol::Http,
        }
    }

    /// For a tonic server: the rpc label is the gRPC path without its leading `/`
    /// (`ragmesh.v1.Retrieval/Retrieve`, `grpc.health.v1.Health/Check`).
    pub fn grpc(service: &'static str) -> RequestMetricsLayer {
        RequestMetricsLayer {
            service,
            protocol: Protocol::Grpc,
        }
    }
}

impl<S> Layer<S> for RequestMetricsLayer {
    type Service = RequestMetrics<S>;

    fn layer(&self, inner: S) -> RequestMetrics<S> {
        RequestMetrics {
            inner,
            service: self.service,
            protocol: self.protocol,
        }
    }
}

/// The service [`RequestMetricsLayer`] builds.
#[derive(Debug, Clone)]
pub struct RequestMetrics<S> {
    inner: S,
    service: &'static str,
    protocol: Protocol,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for RequestMetrics<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ResBody: Body<Data = Bytes> + Unpin,
{
    type Response = Response<MeteredBody<ResBody>>;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let started = Instant::now();
        let service = self.service;
        let protocol = self.protocol;
        let (name, method, span) = match protocol {
            Protocol::Http => {
                let route = request
                    .extensions()
                    .get::<axum::extract::MatchedPath>()
                    .map(|p| p.as_str().to_string())
                    .unwrap_or_else(|| "unmatched".to_string());
                (route, request.method().to_string(), tracing::Span::none())
            }
            Protocol::Grpc => {
                let rpc = request.uri().path().trim_start_matches('/').to_string();
                let parent = TraceContext::from_headers(request.headers());
                let span = tracing::info_span!(
                    "rpc",
                    service,
                    rpc = %rpc,
                    otel.name = %rpc,
                    otel.kind = "server",
                    trace_id = tracing::field::Empty,
                    span_id = tracing::field::Empty,
                    parent_span_id = parent.has_parent().then_some(parent.span_id.as_str()),
                );
                let own = TraceContext::start_span(&span, &parent);
                span.record("trace_id", own.trace_id.as_str());
                span.record("span_id", own.span_id.as_str());
                (rpc, String::new(), span)
            }
        };
        let future = self.inner.call(request);
        Box::pin(
            async move {
                let response = future.await?;
                let (parts, body) = response.into_parts();
                let status = match protocol {
                    Protocol::Http => Some(parts.status.as_u16().to_string()),
                    Protocol::Grpc => grpc_code_from_headers(&parts.headers)
                        .map(str::to_string)
                        .or_else(|| {
                            (parts.status != http::StatusCode::OK).then(|| "unknown".into())
                        }),
                };
                let outcome = Outcome {
                    service,
                    protocol,
                    name,
                    method,
                    started,
                    span: tracing::Span::current(),
                    status,
                    finished: false,
                };
                Ok(Response::from_parts(
                    parts,
                    MeteredBody {
                        inner: body,
                        outcome,
                    },
                ))
            }
            .instrument(span),
        )
    }
}

/// What is recorded once the body is done.
struct Outcome {
    service: &'static str,
    protocol: Protocol,
    /// Route (HTTP) or rpc path (gRPC).
    name: String,
    /// HTTP method; empty for gRPC.
    method: String,
    started: Instant,
    span: tracing::Span,
    /// Known from the response head (HTTP status, trailers-only gRPC status), else from trailers.
    status: Option<String>,
    finished: bool,
}

impl Outcome {
    /// Records once; `fallback` is the status when the head did not carry one.
    fn record(&mut self, fallback: &str) {
        if self.finished {
            return;
        }
        self.finished = true;
        let status = self.status.clone().unwrap_or_else(|| fallback.to_string());
        let seconds = self.started.elapsed().as_secs_f64();
        match self.protocol {
            Protocol::Http => {
                metrics::counter!(
                    "ragmesh_http_requests_total",
                    "service" => self.service,
                    "route" => self.name.clone(),
                    "method" => self.method.clone(),
                    "status" => status
                )
                .increment(1);
                metrics::histogram!(
                    "ragmesh_http_request_duration_seconds",
                    "service" => self.service,
                    "route" => self.name.clone(),
                    "method" => self.method.clone()
                )
                .record(seconds);
            }
            Protocol::Grpc => {
                // The access line of the call, inside its span (so with its trace id).
                // Health probes arrive every few seconds: they log at debug only.
                let ms = seconds * 1e3;
                self.span.in_scope(|| {
                    if self.name.starts_with("grpc.health.") {
                        tracing::debug!(code = %status, ms, "rpc");
                    } else {
                        tracing::info!(code = %status, ms, "rpc");
                    }
                });
                metrics::counter!(
                    "ragmesh_rpc_requests_total",
                    "service" => self.service,
                    "rpc" => self.name.clone(),
                    "code" => status
                )
                .increment(1);
                metrics::histogram!(
                    "ragmesh_rpc_request_duration_seconds",
                    "service" => self.service,
                    "rpc" => self.name.clone()
                )
                .record(seconds);
            }
        }
    }
}

/// A response body that records its request's metrics when it ends or is dropped. Polling
/// happens inside the request's span, so logs written while streaming keep its trace id.
pub struct MeteredBody<B> {
    inner: B,
    outcome: Outcome,
}

impl<B> Body for MeteredBody<B>
where
    B: Body<Data = Bytes> + Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = &mut *self;
        let span = this.outcome.span.clone();
        let _entered = span.enter();
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(trailers) = frame.trailers_ref()
                    && this.outcome.status.is_none()
                {
                    this.outcome.status = grpc_code_from_headers(trailers).map(str::to_string);
                }
            }
            Poll::Ready(Some(Err(_))) => {
                let fallback = match this.outcome.protocol {
                    Protocol::Http => "aborted",
                    Protocol::Grpc => "internal",
                };
                this.outcome.record(fallback);
            }
            Poll::Ready(None) => {
                // HTTP: the head had the status. gRPC: no trailers at all breaks the protocol.
                this.outcome.record("unknown");
            }
            Poll::Pending => {}
        }
        if this.inner.is_end_stream() && this.outcome.status.is_some() {
            this.outcome.record("unknown");
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl<B> Drop for MeteredBody<B> {
    fn drop(&mut self) {
        // Dropped before the end: the client went away (or the server stopped) mid-answer.
        let fallback = match self.outcome.protocol {
            Protocol::Http => "aborted",
            Protocol::Grpc => "cancelled",
        };
        self.outcome.record(fallback);
    }
}

/// The snake_case name of the gRPC status in `grpc-status`, if the map carries one.
fn grpc_code_from_headers(headers: &HeaderMap) -> Option<&'static str> {
    let value = headers.get("grpc-status")?.to_str().ok()?;
    Some(grpc_code_name(value.trim().parse().ok()?))
}

/// gRPC status numbers as label values (`ok`, `invalid_argument`, ...).
pub fn grpc_code_name(code: u32) -> &'static str {
    const NAMES: [&str; 17] = [
        "ok",
        "cancelled",
        "unknown",
        "invalid_argument",
        "deadline_exceeded",
        "not_found",
        "already_exists",
        "permission_denied",
        "resource_exhausted",
        "failed_precondition",
        "aborted",
        "out_of_range",
        "unimplemented",
        "internal",
        "unavailable",
        "data_loss",
        "unauthenticated",
    ];
    NAMES.get(code as usize).copied().unwrap_or("unknown")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::collections::VecDeque;
    use std::convert::Infallible;

    #[test]
    fn grpc_codes_are_named_and_out_of_range_is_unknown() {
        assert_eq!(grpc_code_name(0), "ok");
        assert_eq!(grpc_code_name(14), "unavailable");
        assert_eq!(grpc_code_name(16), "unauthenticated");
        assert_eq!(grpc_code_name(99), "unknown");
        let mut headers = HeaderMap::new();
        assert_eq!(grpc_code_from_headers(&headers), None);
        headers.insert("grpc-status", http::HeaderValue::from_static("5"));
        assert_eq!(grpc_code_from_headers(&headers), Some("not_found"));
    }

    /// A response body of fixed frames (data and trailers).
    struct Frames(VecDeque<Frame<Bytes>>);

    impl Body for Frames {
        type Data = Bytes;
        type Error = Infallible;
        fn poll_frame(
            mut self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
            Poll::Ready(self.0.pop_front().map(Ok))
        }
        fn is_end_stream(&self) -> bool {
            self.0.is_empty()
        }
    }

    fn trailers(code: &'static str) -> Frame<Bytes> {
        let mut map = HeaderMap::new();
        map.insert("grpc-status", http::HeaderValue::from_static(code));
        Frame::trailers(map)
    }

    /// Calls a layered service answering `head_status`/`frames` for `path` and reads `read`
    /// frames of the body before dropping it; returns the rendered metrics.
    fn exchange(
        layer: RequestMetricsLayer,
        path: &str,
        head_status: Option<&'static str>,
        frames: Vec<Frame<Bytes>>,
        read: usize,
    ) -> String {
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        metrics::with_local_recorder(&recorder, || {
            let frames = parking_lot::Mutex::new(Some(frames));
            let inner = tower::service_fn(move |_request: Request<()>| {
                let mut response = Response::new(Frames(frames.lock().take().unwrap().into()));
                if let Some(code) = head_status {
                    response
                        .headers_mut()
                        .insert("grpc-status", http::HeaderValue::from_static(code));
                }
                std::future::ready(Ok::<_, Infallible>(response))
            });
            let mut service = layer.layer(inner);
            let request = Request::builder().uri(path).body(()).unwrap();
            let response = futures::executor::block_on(service.call(request)).unwrap();
            let mut body = response.into_body();
            let waker = futures::task::noop_waker();
            let mut cx = Context::from_waker(&waker);
            for _ in 0..read {
                let _ = Pin::new(&mut body).poll_frame(&mut cx);
            }
        });
        handle.render()
    }

    #[test]
    fn grpc_calls_are_counted_by_the_code_in_trailers_or_head_or_as_cancelled() {
        let rpc = "/ragmesh.v1.Retrieval/Retrieve";
        let data = || Frame::data(Bytes::from_static(b"x"));
        let ok = exchange(
            RequestMetricsLayer::grpc("retrieval"),
            rpc,
            None,
            vec![data(), trailers("0")],
            3,
        );
        assert!(ok.contains("ragmesh_rpc_requests_total{service=\"retrieval\",rpc=\"ragmesh.v1.Retrieval/Retrieve\",code=\"ok\"} 1"), "{ok}");
        assert!(ok.contains("ragmesh_rpc_request_duration_seconds_count{service=\"retrieval\",rpc=\"ragmesh.v1.Retrieval/Retrieve\"} 1"), "{ok}");

        let trailers_only = exchange(
            RequestMetricsLayer::grpc("retrieval"),
            rpc,
            Some("5"),
            vec![],
            1,
        );
        assert!(
            trailers_only.contains("code=\"not_found\"} 1"),
            "{trailers_only}"
        );

        // The client went away after the first message of a stream.
        let cancelled = exchange(
            RequestMetricsLayer::grpc("generation"),
            "/ragmesh.v1.Generation/Generate",
            None,
            vec![data(), data(), trailers("0")],
            1,
        );
        assert!(cancelled.contains("code=\"cancelled\"} 1"), "{cancelled}");
        assert!(!cancelled.contains("code=\"ok\""), "{cancelled}");
    }

    #[test]
    fn http_requests_are_counted_by_route_method_and_status() {
        let text = exchange(
            RequestMetricsLayer::http("gateway"),
            "/no/such/path",
            None,
            vec![Frame::data(Bytes::from_static(b"{}"))],
            2,
        );
        assert!(text.contains("ragmesh_http_requests_total{service=\"gateway\",route=\"unmatched\",method=\"GET\",status=\"200\"} 1"), "{text}");
        assert!(text.contains("ragmesh_http_request_duration_seconds_count{service=\"gateway\",route=\"unmatched\",method=\"GET\"} 1"), "{text}");
    }
}
