//! The Pingora `ProxyHttp` of the balancer: per request, pick an upstream, dial it (h2c for
//! gRPC), pass the request and stream the response back unbuffered (SSE events reach the
//! client as the upstream writes them).
//!
//! Retries: an attempt that fails before any response byte — connect refused or timed out,
//! or the connection reset before the response header — is retried **once** on another
//! upstream (the request body is replayed from Pingora's retry buffer; a body too large for
//! it is not retried). Once a response has started nothing is retried. Each failed attempt
//! also counts towards the passive ejection of its upstream.
//!
//! One case is not a failure of the upstream: a pooled keep-alive connection that the
//! upstream had already closed when it was reused (a broken pipe writing the request, or the
//! connection closed or reset before any response byte, which Pingora marks "retry only if
//! reused"). That attempt is retried once more on a fresh
//! connection, to any upstream including the same one, and counts neither as an error nor
//! towards ejection: with one gateway behind the balancer it made ~1 in 100,000 cached queries
//! a 502 and ejected the gateway (found by `cargo bench --bench cluster_scaling`).
//!
//! Tracing: each request gets a `lb.proxy` span, child of the caller's `traceparent` (or a
//! new trace), and the upstream receives a `traceparent` naming that span.

use crate::metrics;
use crate::upstreams::{InFlight, UpstreamPool};
use async_trait::async_trait;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::proxy::{ProxyHttp, Session};
use pingora::upstreams::peer::HttpPeer;
use pingora::{Error, ErrorSource, ErrorType, RetryType};
use ragmesh_config::{LbProtocol, LbSettings};
use ragmesh_telemetry::{TRACEPARENT, TraceContext};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Concurrent HTTP/2 streams per upstream connection (gRPC).
const MAX_H2_STREAMS: usize = 100;

/// The proxy logic shared by every Pingora worker.
pub struct LbProxy {
    pool: Arc<UpstreamPool>,
    protocol: LbProtocol,
    connect_timeout: Duration,
    active: Arc<AtomicUsize>,
}

impl LbProxy {
    pub fn new(
        pool: Arc<UpstreamPool>,
        settings: &LbSettings,
        active: Arc<AtomicUsize>,
    ) -> LbProxy {
        LbProxy {
            pool,
            protocol: settings.protocol,
            connect_timeout: Duration::from_millis(settings.connect_timeout_ms),
            active,
        }
    }
}

/// Counts a request as in flight in the whole balancer (shutdown drains on it).
pub struct ActiveRequest(Arc<AtomicUsize>);

impl ActiveRequest {
    fn new(active: &Arc<AtomicUsize>) -> ActiveRequest {
        let now = active.fetch_add(1, Ordering::SeqCst) + 1;
        ::metrics::gauge!(metrics::IN_FLIGHT).set(now as f64);
        ActiveRequest(active.clone())
    }
}

impl Drop for ActiveRequest {
    fn drop(&mut self) {
        let now = self.0.fetch_sub(1, Ordering::SeqCst).saturating_sub(1);
        ::metrics::gauge!(metrics::IN_FLIGHT).set(now as f64);
    }
}

/// What one request remembers across Pingora's phases.
pub struct RequestCtx {
    started: Instant,
    /// Upstreams already attempted, never picked again for this request.
    tried: Vec<SocketAddr>,
    /// The attempt in progress.
    current: Option<InFlight>,
    retried: bool,
    /// Whether the retry for a stale pooled connection was used.
    stale_retried: bool,
    /// The current attempt already counted in `ragmesh_lb_requests_total` as `error`.
    failure_counted: bool,
    /// Status of the upstream response, once its header arrived.
    status: Option<u16>,
    span: tracing::Span,
    trace: Option<TraceContext>,
    _active: ActiveRequest,
}

impl RequestCtx {
    fn label(&self) -> &str {
        self.current
            .as_ref()
            .map_or(metrics::NO_UPSTREAM, |c| c.upstream.label.as_str())
    }

    /// Ends the current attempt as failed (no response); true when it is to be retried
    /// (`may_retry`, none before, and another upstream left).
    fn fail_attempt(&mut self, pool: &UpstreamPool, may_retry: bool) -> bool {
        let Some(attempt) = self.current.take() else {
            return false;
        };
        pool.record_failure(&attempt.upstream);
        metrics::request(&attempt.upstream.label, "error", None);
        let members = pool.members();
        let another = members.iter().any(|u| !self.tried.contains(&u.addr));
        if !may_retry || self.retried || !another {
            // Keep the upstream for the final metrics of this request.
            self.current = Some(attempt);
            self.failure_counted = true;
            return false;
        }
        self.retried = true;
        metrics::retry(&attempt.upstream.label);
        tracing::warn!(upstream = %attempt.upstream.label, "attempt failed before any response; retrying on another upstream");
        true
    }

    /// Ends the current attempt, which met a stale pooled connection, without blaming its
    /// upstream; true when it is to be retried (once per request), the same upstream allowed.
    fn stale_connection(&mut self, may_retry: bool) -> bool {
        if !may_retry || self.stale_retried {
            return false;
        }
        let Some(attempt) = self.current.take() else {
            return false;
        };
        self.stale_retried = true;
        self.tried.retain(|addr| *addr != attempt.upstream.addr);
        metrics::retry(&attempt.upstream.label);
        tracing::debug!(upstream = %attempt.upstream.label, "pooled connection was closed by the upstream; retrying on a fresh one");
        true
    }
}

#[async_trait]
impl ProxyHttp for LbProxy {
    type CTX = RequestCtx;

    fn new_ctx(&self) -> RequestCtx {
        RequestCtx {
            started: Instant::now(),
            tried: Vec::with_capacity(2),
            current: None,
            retried: false,
            stale_retried: false,
            failure_counted: false,
            status: None,
            span: tracing::Span::none(),
            trace: None,
            _active: ActiveRequest::new(&self.active),
        }
    }

    async fn request_filter(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
    ) -> pingora::Result<bool> {
        let header = session.req_header();
        let parent = TraceContext::from_headers(&header.headers);
        let path = header.uri.path().to_string();
        let span = tracing::info_span!(
            "lb.proxy",
            otel.name = %format!("{} {path}", header.method),
            otel.kind = "server",
            http.method = %header.method,
            url.path = %path,
            upstream = tracing::field::Empty,
            http.status_code = tracing::field::Empty,
            trace_id = tracing::field::Empty,
            span_id = tracing::field::Empty,
        );
        let own = TraceContext::start_span(&span, &parent);
        span.record("trace_id", own.trace_id.as_str());
        span.record("span_id", own.span_id.as_str());
        ctx.span = span;
        ctx.trace = Some(own);
        // Keep the request body so that a retry can send it again.
        session.as_mut().enable_retry_buffering();
        Ok(false)
    }

    async fn upstream_peer(
        &self,
        _session: &mut Session,
        ctx: &mut RequestCtx,
    ) -> pingora::Result<Box<HttpPeer>> {
        let Some(attempt) = self.pool.select(&ctx.tried) else {
            return Err(Error::explain(
                ErrorType::HTTPStatus(503),
                "no upstream available",
            ));
        };
        let addr = attempt.upstream.addr;
        ctx.tried.push(addr);
        ctx.span.record("upstream", attempt.upstream.label.as_str());
        ctx.current = Some(attempt);
        let mut peer = HttpPeer::new(addr, false, String::new());
        peer.options.connection_timeout = Some(self.connect_timeout);
        if self.protocol == LbProtocol::Grpc {
            peer.options.set_http_version(2, 2);
            peer.options.max_h2_streams = MAX_H2_STREAMS;
        }
        Ok(Box::new(peer))
    }

    async fn upstream_request_filter(
        &self,
        _session: &mut Session,
        upstream_request: &mut RequestHeader,
        ctx: &mut RequestCtx,
    ) -> pingora::Result<()> {
        if let Some(trace) = &ctx.trace {
            upstream_request.insert_header(TRACEPARENT, trace.traceparent())?;
        }
        Ok(())
    }

    async fn upstream_response_filter(
        &self,
        _session: &mut Session,
        upstream_response: &mut ResponseHeader,
        ctx: &mut RequestCtx,
    ) -> pingora::Result<()> {
        // Informational responses (100 Continue) are not the response.
        let status = upstream_response.status.as_u16();
        if status >= 200 {
            ctx.status = Some(status);
            if let Some(attempt) = &ctx.current {
                self.pool.record_success(&attempt.upstream);
            }
        }
        Ok(())
    }

    fn fail_to_connect(
        &self,
        _session: &mut Session,
        _peer: &HttpPeer,
        ctx: &mut RequestCtx,
        mut e: Box<Error>,
    ) -> Box<Error> {
        let retry = ctx.fail_attempt(&self.pool, true);
        e.set_retry(retry);
        e
    }

    fn error_while_proxy(
        &self,
        peer: &HttpPeer,
        session: &mut Session,
        e: Box<Error>,
        ctx: &mut RequestCtx,
        upstream_reused: bool,
    ) -> Box<Error> {
        let mut e = e.more_context(format!("Peer: {peer}"));
        let before_response = ctx.status.is_none() && session.as_ref().response_written().is_none();
        let upstream_side = matches!(e.esource(), ErrorSource::Upstream);
        if before_response && upstream_side {
            let replayable = !session.as_ref().retry_buffer_truncated();
            // `upstream_reused`: Pingora's `client_reused`, the upstream connection came from
            // its pool. Closed under us: Pingora marks a read "retry if reused"; writing the
            // request into the closed socket is a write error (broken pipe).
            let stale = upstream_reused
                && (matches!(e.retry, RetryType::ReusedOnly)
                    || matches!(
                        e.etype(),
                        ErrorType::WriteError | ErrorType::ConnectionClosed
                    ));
            if stale && ctx.stale_connection(replayable) {
                e.set_retry(true);
                return e;
            }
            let retry = ctx.fail_attempt(&self.pool, replayable);
            e.set_retry(retry);
        } else {
            e.set_retry(false);
        }
        e
    }

    async fn logging(&self, _session: &mut Session, e: Option<&Error>, ctx: &mut RequestCtx) {
        let seconds = ctx.started.elapsed().as_secs_f64();
        let status = match (ctx.status, e) {
            (Some(status), _) => status.to_string(),
            (None, Some(e)) => match e.etype() {
                ErrorType::HTTPStatus(code) => code.to_string(),
                _ => "error".to_string(),
            },
            (None, None) => "error".to_string(),
        };
        ctx.span.record("http.status_code", status.as_str());
        let label = ctx.label().to_string();
        if ctx.status.is_some() || !ctx.failure_counted {
            metrics::request(&label, &status, Some(seconds));
        } else {
            // The failed attempt is already counted as `error`; only its duration is left.
            ::metrics::histogram!(metrics::REQUEST_DURATION, "upstream" => label.clone())
                .record(seconds);
        }
        if let Some(e) = e {
            tracing::debug!(upstream = %label, error = %e, "request failed");
        }
        ctx.current = None;
    }
}
