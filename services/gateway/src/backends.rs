//! The three gRPC backends as the gateway sees them: lazily connected channels, one deadline
//! per call (sent as `grpc-timeout` and enforced here too, so a silent backend cannot hold a
//! request forever), the request's trace context as metadata, and the single place where a
//! `tonic::Status` becomes a [`GatewayError`] that names the service.

use crate::errors::GatewayError;
use crate::request_context::RequestContext;
use ragmesh_config::GatewaySettings;
use ragmesh_core::{ErrorCode, status_from};
use ragmesh_proto::v1::{
    DeleteRequest, DeleteResponse, GenerateChunk, GenerateRequest, IngestRequest, IngestResponse,
    ListCollectionsRequest, ListCollectionsResponse, ListDocumentsRequest, ListDocumentsResponse,
    RerankRequest, RerankResponse, RetrieveRequest, RetrieveResponse,
    generation_client::GenerationClient, generation_server, rerank_client::RerankClient,
    rerank_server, retrieval_client::RetrievalClient, retrieval_server,
};
use std::future::Future;
use std::time::Duration;
use tonic::transport::{Channel, Endpoint};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

/// How long establishing a TCP/HTTP2 connection to a backend may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// How long `/health/ready` waits for each backend's health answer.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(2);
/// Largest gRPC message accepted from a backend (document listings of big collections).
const MAX_RESPONSE_BYTES: usize = 64 * 1024 * 1024;

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
    retrieval: Channel,
    rerank: Channel,
    generation: Channel,
    rpc_timeout: Duration,
    /// Deadline of a whole ingest: chunking and embedding a large batch takes far longer than a
    /// search, so it gets the long deadline.
    ingest_timeout: Duration,
    generate_timeout: Duration,
}

impl Backends {
    /// Lazy channels: nothing is dialled until the first call, so the gateway starts (and
    /// reports not-ready) while backends are still loading models.
    pub fn connect(settings: &GatewaySettings) -> Result<Backends, GatewayError> {
        let rpc_timeout = Duration::from_millis(settings.rpc_timeout_ms.max(1));
        let generate_timeout = Duration::from_millis(settings.generate_timeout_ms.max(1));
        Ok(Backends {
            retrieval: channel(Backend::Retrieval, &settings.retrieval_url, rpc_timeout)?,
            rerank: channel(Backend::Rerank, &settings.rerank_url, rpc_timeout)?,
            generation: channel(Backend::Generation, &settings.generation_url, rpc_timeout)?,
            rpc_timeout,
            ingest_timeout: rpc_timeout.max(generate_timeout),
            generate_timeout,
        })
    }

    pub fn generate_timeout(&self) -> Duration {
        self.generate_timeout
    }

    fn retrieval(&self) -> RetrievalClient<Channel> {
        RetrievalClient::new(self.retrieval.clone()).max_decoding_message_size(MAX_RESPONSE_BYTES)
    }

    pub async fn ingest(
        &self,
        message: IngestRequest,
        ctx: &RequestContext,
    ) -> Result<IngestResponse, GatewayError> {
        let timeout = self.ingest_timeout;
        let request = ctx.grpc_request(message, timeout);
        call(
            Backend::Retrieval,
            timeout,
            self.retrieval().ingest(request),
        )
        .await
    }

    pub async fn delete(
        &self,
        message: DeleteRequest,
        ctx: &RequestContext,
    ) -> Result<DeleteResponse, GatewayError> {
        let request = ctx.grpc_request(message, self.rpc_timeout);
        call(
            Backend::Retrieval,
            self.rpc_timeout,
            self.retrieval().delete(request),
        )
        .await
    }

    pub async fn retrieve(
        &self,
        message: RetrieveRequest,
        ctx: &RequestContext,
    ) -> Result<RetrieveResponse, GatewayError> {
        let request = ctx.grpc_request(message, self.rpc_timeout);
        call(
            Backend::Retrieval,
            self.rpc_timeout,
            self.retrieval().retrieve(request),
        )
        .await
    }

    pub async fn list_collections(
        &self,
        ctx: &RequestContext,
    ) -> Result<ListCollectionsResponse, GatewayError> {
        let request = ctx.grpc_request(ListCollectionsRequest {}, self.rpc_timeout);
        call(
            Backend::Retrieval,
            self.rpc_timeout,
            self.retrieval().list_collections(request),
        )
        .await
    }

    pub async fn list_documents(
        &self,
        message: ListDocumentsRequest,
        ctx: &RequestContext,
    ) -> Result<ListDocumentsResponse, GatewayError> {
        let request = ctx.grpc_request(message, self.rpc_timeout);
        call(
            Backend::Retrieval,
            self.rpc_timeout,
            self.retrieval().list_documents(request),
        )
        .await
    }

    pub async fn rerank(
        &self,
        message: RerankRequest,
        ctx: &RequestContext,
    ) -> Result<RerankResponse, GatewayError> {
        let request = ctx.grpc_request(message, self.rpc_timeout);
        let mut client = RerankClient::new(self.rerank.clone());
        call(Backend::Rerank, self.rpc_timeout, client.rerank(request)).await
    }

    /// Opens the generation stream (returns once the service has accepted the call). Dropping
    /// the returned stream cancels the call, which stops generation.
    pub async fn generate(
        &self,
        message: GenerateRequest,
        ctx: &RequestContext,
    ) -> Result<tonic::Streaming<GenerateChunk>, GatewayError> {
        let timeout = self.generate_timeout;
        let request = ctx.grpc_request(message, timeout);
        let mut client = GenerationClient::new(self.generation.clone());
        call(Backend::Generation, timeout, client.generate(request)).await
    }

    /// Asks each backend's grpc.health.v1 service, concurrently, whether it is SERVING.
    pub async fn health(&self) -> Vec<(Backend, BackendHealth)> {
        let timeout = HEALTH_TIMEOUT.min(self.rpc_timeout);
        let checks = Backend::ALL.map(|backend| {
            let channel = self.channel(backend).clone();
            async move { (backend, check_health(backend, channel, timeout).await) }
        });
        futures::future::join_all(checks).await
    }

    fn channel(&self, backend: Backend) -> &Channel {
        match backend {
            Backend::Retrieval => &self.retrieval,
            Backend::Rerank => &self.rerank,
            Backend::Generation => &self.generation,
        }
    }
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

fn channel(service: Backend, url: &str, rpc_timeout: Duration) -> Result<Channel, GatewayError> {
    let endpoint =
        Endpoint::from_shared(url.to_string()).map_err(|e| GatewayError::BackendUrl {
            service,
            url: url.to_string(),
            reason: e.to_string(),
        })?;
    Ok(endpoint
        .connect_timeout(CONNECT_TIMEOUT.min(rpc_timeout))
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(30))
        .keep_alive_timeout(Duration::from_secs(10))
        .connect_lazy())
}

/// Runs one call with a client-side deadline and maps its failure.
async fn call<T>(
    service: Backend,
    timeout: Duration,
    call: impl Future<Output = Result<tonic::Response<T>, tonic::Status>>,
) -> Result<T, GatewayError> {
    match tokio::time::timeout(timeout, call).await {
        Err(_) => Err(deadline_error(service, timeout)),
        Ok(Err(status)) => Err(error_from_status(service, &status)),
        Ok(Ok(response)) => Ok(response.into_inner()),
    }
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
        let settings = GatewaySettings {
            rerank_url: "not a url".into(),
            ..GatewaySettings::default()
        };
        let err = Backends::connect(&settings)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("rerank"), "{err}");
    }
}
