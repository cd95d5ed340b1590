//! A bound on the calls one gRPC service runs at once, shared by all its connections. A call
//! over the bound is answered RESOURCE_EXHAUSTED at once (trailers-only, nothing queued), so
//! an overloaded service stays responsive and its memory flat; the caller can retry later or
//! elsewhere. A call holds its slot until its response body ends or is dropped — a streamed
//! answer counts for as long as it streams, and a client that goes away frees the slot.
//! Health checks and reflection are never limited: a busy service must still say it is alive.
//!
//! Metrics: `ragmesh_rpc_in_flight{service}` and `ragmesh_rpc_shed_total{service}`.

use bytes::Bytes;
use futures::future::BoxFuture;
use http_body::{Body, Frame, SizeHint};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tower::{Layer, Service};

/// Paths never limited.
const EXEMPT_PREFIXES: [&str; 3] = [
    "/grpc.health.v1.",
    "/grpc.reflection.v1.",
    "/grpc.reflection.v1alpha.",
];

#[derive(Debug, Clone)]
pub struct ConcurrencyLimitLayer {
    service: &'static str,
    max: usize,
    slots: Arc<Semaphore>,
}

impl ConcurrencyLimitLayer {
    /// At most `max` concurrent calls (at least 1) for the service named `service` in metrics.
    pub fn new(service: &'static str, max: usize) -> ConcurrencyLimitLayer {
        let max = max.max(1);
        // Created at zero so rates and alerts see the series before the first rejection.
        metrics::counter!("ragmesh_rpc_shed_total", "service" => service).increment(0);
        metrics::gauge!("ragmesh_rpc_in_flight", "service" => service).increment(0.0);
        ConcurrencyLimitLayer {
            service,
            max,
            slots: Arc::new(Semaphore::new(max)),
        }
    }
}

impl<S> Layer<S> for ConcurrencyLimitLayer {
    type Service = ConcurrencyLimit<S>;

    fn layer(&self, inner: S) -> ConcurrencyLimit<S> {
        ConcurrencyLimit {
            inner,
            limit: self.clone(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct ConcurrencyLimit<S> {
    inner: S,
    limit: ConcurrencyLimitLayer,
}

impl<S, B> Service<http::Request<B>> for ConcurrencyLimit<S>
where
    S: Service<http::Request<B>, Response = http::Response<tonic::body::Body>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let path = request.uri().path();
        if EXEMPT_PREFIXES.iter().any(|p| path.starts_with(p)) {
            return Box::pin(self.inner.call(request));
        }
        let service = self.limit.service;
        let Ok(permit) = Arc::clone(&self.limit.slots).try_acquire_owned() else {
            metrics::counter!("ragmesh_rpc_shed_total", "service" => service).increment(1);
            tracing::debug!(service, path, "call shed: concurrency limit reached");
            let status = tonic::Status::resource_exhausted(format!(
                "the {service} service is busy ({} calls running, its limit); retry later",
                self.limit.max
            ));
            return Box::pin(std::future::ready(Ok(status.into_http())));
        };
        let slot = Slot::new(service, permit);
        let response = self.inner.call(request);
        Box::pin(async move {
            let response = response.await?;
            Ok(response.map(|body| tonic::body::Body::new(SlotBody { body, _slot: slot })))
        })
    }
}

/// One occupied slot, counted in the in-flight gauge until dropped.
struct Slot {
    service: &'static str,
    _permit: OwnedSemaphorePermit,
}

impl Slot {
    fn new(service: &'static str, permit: OwnedSemaphorePermit) -> Slot {
        metrics::gauge!("ragmesh_rpc_in_flight", "service" => service).increment(1.0);
        Slot {
            service,
            _permit: permit,
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        metrics::gauge!("ragmesh_rpc_in_flight", "service" => self.service).decrement(1.0);
    }
}

/// A response body that keeps its call's slot until it is finished or dropped.
struct SlotBody {
    body: tonic::body::Body,
    _slot: Slot,
}

impl Body for SlotBody {
    type Data = Bytes;
    type Error = tonic::Status;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, tonic::Status>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
