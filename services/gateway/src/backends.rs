//! The three gRPC backends as the gateway sees them: each one a [`ragmesh_rpc::Upstream`]
//! (retrieval: one per shard, see [`crate::retrieval_shards`]) — its instances, a circuit
//! breaker, one deadline per call sent as `grpc-timeout` and enforced here too, one retry on
//! another instance for idempotent calls — the request's
//! trace context as metadata, and the single place where a failed call becomes a
//! [`GatewayError`] that names the service.

use crate::errors::GatewayError;
use crate::request_context::RequestContext;
use crate::retrieval_shards::RetrievalShards;
use ragmesh_config::{RpcSettings, Settings, split_urls};
use ragmesh_core::{ErrorCode, status_from};
use ragmesh_proto::v1::{
    EmbedRequest, EmbedResponse, GenerateChunk, GenerateRequest, RerankRequest, RerankResponse,
    RetrieveRequest, RetrieveResponse, generation_client::GenerationClient, generation_server,
    rerank_client::RerankClient, rerank_server, retrieval_server,
};
use ragmesh_rpc::{BreakerState, CallError, ClientOptions, Retry, Upstream};
use std::sync::Arc;
use std::time::Duration;
use tonic::transport::Channel;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

/// How long `/health/ready` waits for each backend's health answer.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(2);

/// Which backend a call went to; its name appears in errors, metrics and `/health/ready`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Retrieval,
    Rerank,
    Generation,
}

impl Backend {
    pub const ALL: [Backend; 3] = [Backend::Retrieval, Backend::Rerank, Backend::Generation];

    pub fn name(self) -> &'static str {
        match self {
            Backend::Retrieval => "retrieval",
            Backend::Rerank => "rerank",
            Backend::Generation => "generation",
        }
    }

    /// The gRPC service name its server registers with grpc.health.v1.
    fn grpc_service(self) -> &'static str {
        match self {
            Backend::Retrieval => retrieval_server::SERVICE_NAME,
            Backend::Rerank => rerank_server::SERVICE_NAME,
            Backend::Generation => generation_server::SERVICE_NAME,
        }
    }
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Turns a backend's status into the gateway's error: unreachable or "unavailable" → 503
/// naming the service; any other kind keeps its kind (and so its HTTP status).
pub fn error_from_status(service: Backend, status: &tonic::Status) -> GatewayError {
    let code = status_from(status);
    record_backend_error(service, code);
    let message = if status.message().is_empty() {
        format!("{:?}", status.code())
    } else {
        status.message().to_string()
    };
    match code {
        ErrorCode::Unavailable => GatewayError::Unavailable { service, message },
        _ => GatewayError::Backend {
            service,
            code,
            message,
        },
    }
}

/// The gateway's error for a failed call: an open breaker is a fast 503 naming the backend;
/// a shed call is a 429 with `Retry-After: overload_retry_after_s`; otherwise as
/// [`error_from_status`] / [`deadline_error`].
pub fn error_from_call(
    service: Backend,
    err: CallError,
    overload_retry_after_s: u64,
) -> GatewayError {
    match err {
        CallError::Open {
            retry_after,
            failures,
        } => {
            record_backend_error(service, ErrorCode::Unavailable);
            GatewayError::CircuitOpen {
                service,
                failures,
                retry_after_s: retry_after.as_secs_f64().ceil().max(1.0) as u64,
            }
        }
        CallError::DeadlineExceeded { timeout } => deadline_error(service, timeout),
        CallError::Status(status) if status_from(&status) == ErrorCode::ResourceExhausted => {
            record_backend_error(service, ErrorCode::ResourceExhausted);
            GatewayError::Overloaded {
                service,
                message: status.message().to_string(),
                retry_after_s: overload_retry_after_s.max(1),
            }
        }
        CallError::Status(status) => error_from_status(service, &status),
    }
}

/// The error for a call that outlived its deadline on this side.
pub fn deadline_error(service: Backend, timeout: Duration) -> GatewayError {
    record_backend_error(service, ErrorCode::DeadlineExceeded);
    GatewayError::DeadlineExceeded {
        service,
        ms: timeout.as_millis() as u64,
    }
}

fn record_backend_error(service: Backend, code: ErrorCode) {
    metrics::counter!("ragmesh_backend_errors_total", "service" => service.name(), "code" => code.as_str())
        .increment(1);
}

/// Health of one backend as `/health/ready` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackendHealth {
    Serving,
    NotServing,
    /// No answer: connection refused, deadline, or an RPC error (the message says which).
    Unreachable(String),
}

impl BackendHealth {
    pub fn label(&self) -> String {
        match self {
            BackendHealth::Serving => "serving".into(),
            BackendHealth::NotServing => "not_serving".into(),
            BackendHealth::Unreachable(why) => format!("unavailable: {why}"),
        }
    }
}

/// Clients of the three backends. Cloning is cheap (channels are shared and multiplexed).
#[derive(Clone)]
pub struct Backends {
    retrieval: Arc<RetrievalShards>,
    rerank: Arc<Upstream>,
    generation: Arc<Upstream>,
    rpc_timeout: Duration,
    generate_timeout: Duration,
    overload_retry_after_s: u64,
}

impl Backends {
    /// Lazy channels: nothing is dialled until the first call, so the gateway starts (and
    /// reports not-ready) while backends are still loading models.
    pub fn connect(settings: &Settings) -> Result<Backends, GatewayError> {
        let gateway = &settings.gateway;
        let rpc_timeout = Duration::from_millis(gateway.rpc_timeout_ms.max(1));
        let generate_timeout = Duration::from_millis(gateway.generate_timeout_ms.max(1));
        let build = |backend: Backend, urls: &str| {
            upstream(backend, urls, &settings.rpc, rpc_timeout).map(Arc::new)
        };
        Ok(Backends {
            retrieval: Arc::new(RetrievalShards::connect(
                settings,
                rpc_timeout,
                rpc_timeout.max(generate_timeout),
            )?),
            rerank: build(Backend::Rerank, &gateway.rerank_url)?,
            generation: build(Backend::Generation, &gateway.generation_url)?,
            rpc_timeout,
            generate_timeout,
            overload_retry_after_s: settings.rpc.overload_retry_after_s,
        })
    }

    fn error(&self, service: Backend, err: CallError) -> GatewayError {
        error_from_call(service, err, self.overload_retry_after_s)
    }

    /// One RPC to `backend` through its upstream (breaker, deadline, `retry` policy), with a
    /// failure mapped to the gateway's error for that backend.
    async fn call_on<T, F, Fut>(
        &self,
        backend: Backend,
        retry: Retry,
        timeout: Duration,
        attempt: F,
    ) -> Result<T, GatewayError>
    where
        F: FnMut(Channel, Duration) -> Fut,
        Fut: std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        self.upstream(backend)
            .call(retry, timeout, attempt)
            .await
            .map_err(|e| self.error(backend, e))
    }

    pub fn generate_timeout(&self) -> Duration {
        self.generate_timeout
    }

    /// The retrieval backend: its shards and replicas (ingest, delete, search, listings,
    /// backups; see [`crate::retrieval_shards`]).
    pub fn retrieval(&self) -> &RetrievalShards {
        &self.retrieval
    }

    /// Embeds texts with the retrieval model (the cache embeds each query once and reuses the
    /// vector for its semantic lookup and for `Retrieve`).
    pub async fn embed(
        &self,
        message: EmbedRequest,
        ctx: &RequestContext,
    ) -> Result<EmbedResponse, GatewayError> {
        self.retrieval.embed(message, ctx).await
    }

    pub async fn retrieve(
        &self,
        message: RetrieveRequest,
        ctx: &RequestContext,
    ) -> Result<RetrieveResponse, GatewayError> {
        self.retrieval.retrieve(message, ctx).await
    }

    pub async fn rerank(
        &self,
        message: RerankRequest,
        ctx: &RequestContext,
    ) -> Result<RerankResponse, GatewayError> {
        self.call_on(
            Backend::Rerank,
            Retry::OnAnotherInstance,
            self.rpc_timeout,
            |channel, left| {
                let request = ctx.grpc_request(message.clone(), left);
                async move { RerankClient::new(channel).rerank(request).await }
            },
        )
        .await
    }

    /// Opens the generation stream (returns once the service has accepted the call, before
    /// any token: only this opening may be retried on another instance; a stream that breaks
    /// later is never repeated). Dropping the returned stream cancels the call, which stops
    /// generation.
    pub async fn generate(
        &self,
        message: GenerateRequest,
        ctx: &RequestContext,
    ) -> Result<tonic::Streaming<GenerateChunk>, GatewayError> {
        let timeout = self.generate_timeout;
        self.call_on(
            Backend::Generation,
            Retry::OnAnotherInstance,
            timeout,
            |channel, left| {
                let request = ctx.grpc_request(message.clone(), left);
                async move { GenerationClient::new(channel).generate(request).await }
            },
        )
        .await
    }

    /// Asks every instance of each backend, concurrently, whether it is SERVING (a backend is
    /// serving when one of its instances is).
    pub async fn health(&self) -> Vec<(Backend, BackendHealth)> {
        let timeout = HEALTH_TIMEOUT.min(self.rpc_timeout);
        let checks = Backend::ALL.map(|backend| async move {
            let groups = self.upstreams(backend);
            let shards = groups.len();
            let answers = futures::future::join_all(
                groups
                    .iter()
                    .map(|upstream| upstream_health(backend, upstream, timeout)),
            )
            .await;
            // With several shards, each must have a serving replica.
            let worst = answers
                .into_iter()
                .enumerate()
                .find(|(_, h)| *h != BackendHealth::Serving)
                .map(|(i, h)| match h {
                    BackendHealth::Unreachable(why) if shards > 1 => {
                        BackendHealth::Unreachable(format!("shard {} of {shards}: {why}", i + 1))
                    }
                    other => other,
                })
                .unwrap_or(BackendHealth::Serving);
            (backend, worst)
        });
        futures::future::join_all(checks).await
    }

    /// Each backend's circuit breaker state (with several retrieval shards, the worst).
    pub fn breakers(&self) -> Vec<(Backend, BreakerState)> {
        Backend::ALL
            .iter()
            .map(|b| {
                let worst = self
                    .upstreams(*b)
                    .iter()
                    .map(|u| u.breaker().state())
                    .max_by_key(|state| match state {
                        BreakerState::Closed => 0,
                        BreakerState::HalfOpen => 1,
                        BreakerState::Open => 2,
                    })
                    .unwrap_or(BreakerState::Closed);
                (*b, worst)
            })
            .collect()
    }

    /// The upstream of a backend called through [`Backends::call_on`]; retrieval calls go
    /// through [`RetrievalShards`] instead (this is its first shard).
    fn upstream(&self, backend: Backend) -> &Upstream {
        match backend {
            Backend::Retrieval => &self.retrieval.shards()[0],
            Backend::Rerank => &self.rerank,
            Backend::Generation => &self.generation,
        }
    }

    fn upstreams(&self, backend: Backend) -> Vec<Arc<Upstream>> {
        match backend {
            Backend::Retrieval => self.retrieval.shards().to_vec(),
            Backend::Rerank => vec![Arc::clone(&self.rerank)],
            Backend::Generation => vec![Arc::clone(&self.generation)],
        }
    }
}

/// Health of one upstream: serving when one of its instances is.
async fn upstream_health(
    backend: Backend,
    upstream: &Upstream,
    timeout: Duration,
) -> BackendHealth {
    let answers = futures::future::join_all(
        upstream
            .instances()
            .map(|(_, channel)| check_health(backend, channel.clone(), timeout)),
    )
    .await;
    answers
        .iter()
        .find(|h| **h == BackendHealth::Serving)
        .or_else(|| answers.iter().find(|h| **h == BackendHealth::NotServing))
        .or(answers.first())
        .cloned()
        .unwrap_or(BackendHealth::Unreachable("no instance".into()))
}

async fn check_health(backend: Backend, channel: Channel, timeout: Duration) -> BackendHealth {
    let mut client = HealthClient::new(channel);
    let mut request = tonic::Request::new(HealthCheckRequest {
        service: backend.grpc_service().to_string(),
    });
    request.set_timeout(timeout);
    match tokio::time::timeout(timeout, client.check(request)).await {
        Err(_) => BackendHealth::Unreachable(format!(
            "no health answer within {} ms",
            timeout.as_millis()
        )),
        Ok(Err(status)) => {
            BackendHealth::Unreachable(format!("{:?}: {}", status.code(), status.message()))
        }
        Ok(Ok(response)) => match ServingStatus::try_from(response.into_inner().status) {
            Ok(ServingStatus::Serving) => BackendHealth::Serving,
            _ => BackendHealth::NotServing,
        },
    }
}

/// The client of one backend: every URL in its setting, dialled with `[rpc]` options (the
/// connect timeout never longer than the call deadline).
fn upstream(
    backend: Backend,
    urls: &str,
    rpc: &RpcSettings,
    rpc_timeout: Duration,
) -> Result<Upstream, GatewayError> {
    let mut options = ClientOptions::from_settings(rpc);
    options.connect_timeout = options.connect_timeout.min(rpc_timeout);
    let urls = split_urls(urls);
    Upstream::new(
        backend.name(),
        &urls,
        &options,
        &rpc.breaker,
        rpc.retry_idempotent,
    )
    .map_err(|e| GatewayError::BackendUrl {
        service: backend,
        url: urls.join(","),
        reason: e.to_string(),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn backend_kinds_survive_and_unreachable_names_the_service() {
        let not_found = tonic::Status::not_found("collection \"x\" not found");
        let err = error_from_status(Backend::Retrieval, &not_found);
        assert_eq!(ragmesh_core::Classify::code(&err), ErrorCode::NotFound);
        assert_eq!(
            err.to_string(),
            "retrieval service: collection \"x\" not found"
        );

        let down = tonic::Status::unavailable("tcp connect error");
        let err = error_from_status(Backend::Generation, &down);
        assert_eq!(
            err.to_string(),
            "generation service unavailable: tcp connect error"
        );

        // A 415 travels as INVALID_ARGUMENT plus the wire name in metadata; the kind survives.
        #[derive(Debug, thiserror::Error)]
        #[error("only text")]
        struct Typed;
        impl ragmesh_core::Classify for Typed {
            fn code(&self) -> ErrorCode {
                ErrorCode::UnsupportedMediaType
            }
        }
        let err = error_from_status(Backend::Retrieval, &ragmesh_core::to_status(&Typed));
        assert_eq!(ragmesh_core::Classify::code(&err).http().as_u16(), 415);
    }

    #[tokio::test]
    async fn bad_urls_are_rejected_at_start() {
        let mut settings = Settings::default();
        settings.gateway.rerank_url = "not a url".into();
        let err = Backends::connect(&settings)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("rerank"), "{err}");
    }
}
