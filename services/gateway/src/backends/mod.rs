//! The three gRPC backends as the gateway sees them: rerank and generation each one a
//! [`ragmesh_rpc::Upstream`] — its instances, a circuit breaker, one deadline per call sent as
//! `grpc-timeout` and enforced here too, one retry on another instance for idempotent calls —
//! and retrieval the sharded, replicated cluster of `ragmesh_retrieval_client`. Every call
//! carries the request's trace context as metadata, and a failed call becomes an error that
//! names the service ([`ServiceError`], [`ragmesh_retrieval_client::RetrievalError`]).
//! Which backend is which is [`backend`]; their health and breakers are [`health`].

pub mod backend;
pub mod health;

use crate::backends::backend::Backend;
use crate::error::GatewayError;
use crate::request_context::RequestContext;
use ragmesh_config::{RpcSettings, Settings, split_urls};
use ragmesh_proto::v1::{
    EmbedRequest, EmbedResponse, GenerateChunk, GenerateRequest, RerankRequest, RerankResponse,
    RetrieveRequest, RetrieveResponse, generation_client::GenerationClient,
    rerank_client::RerankClient,
};
use ragmesh_retrieval_client::{RetrievalCluster, ServiceError};
use ragmesh_rpc::{ClientOptions, Retry, Upstream};
use std::sync::Arc;
use std::time::Duration;
use tonic::transport::Channel;

/// Clients of the three backends. Cloning is cheap (channels are shared and multiplexed).
#[derive(Clone)]
pub struct Backends {
    retrieval: Arc<RetrievalCluster>,
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
            retrieval: Arc::new(RetrievalCluster::connect(
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
            .map_err(|e| {
                ServiceError::from_call(backend.name(), e, self.overload_retry_after_s).into()
            })
    }

    pub fn generate_timeout(&self) -> Duration {
        self.generate_timeout
    }

    /// The retrieval backend: its shards and replicas (ingest, delete, search, listings,
    /// backups; see [`ragmesh_retrieval_client`]).
    pub fn retrieval(&self) -> &RetrievalCluster {
        &self.retrieval
    }

    /// Embeds texts with the retrieval model (the cache embeds each query once and reuses the
    /// vector for its semantic lookup and for `Retrieve`).
    pub async fn embed(
        &self,
        message: EmbedRequest,
        ctx: &RequestContext,
    ) -> Result<EmbedResponse, GatewayError> {
        Ok(self.retrieval.embed(message, ctx).await?)
    }

    pub async fn retrieve(
        &self,
        message: RetrieveRequest,
        ctx: &RequestContext,
    ) -> Result<RetrieveResponse, GatewayError> {
        Ok(self.retrieval.retrieve(message, ctx).await?)
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

    /// The upstream of a backend called through [`Backends::call_on`]; retrieval calls go
    /// through [`RetrievalCluster`] instead (this is its first shard).
    fn upstream(&self, backend: Backend) -> &Upstream {
        match backend {
            Backend::Retrieval => &self.retrieval.shards()[0],
            Backend::Rerank => &self.rerank,
            Backend::Generation => &self.generation,
        }
    }

    pub(crate) fn upstreams(&self, backend: Backend) -> Vec<Arc<Upstream>> {
        match backend {
            Backend::Retrieval => self.retrieval.shards().to_vec(),
            Backend::Rerank => vec![Arc::clone(&self.rerank)],
            Backend::Generation => vec![Arc::clone(&self.generation)],
        }
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
    .map_err(|e| {
        ServiceError::BadUrl {
            service: backend.name(),
            url: urls.join(","),
            reason: e.to_string(),
        }
        .into()
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

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
