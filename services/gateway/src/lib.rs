//! The HTTP gateway: ragmesh's public API. It validates every request before any backend is
//! called, orchestrates retrieval, reranking and generation over gRPC (see
//! [`query::pipeline`]), keeps citations honest, profiles each query step by step, and turns
//! every failure into a typed JSON error — a backend that is down is a 503 naming it, never a
//! made-up answer.
//!
//! - [`api`]: the HTTP API — router, one file per resource, request and response shapes,
//!   extractors, SSE framing, how an error goes out;
//! - [`query`]: a query — its plan, the pipeline (retrieve, rerank, generate), the answer
//!   stream, citations, the profile and its window, query expansion;
//! - [`answer_cache`]: the semantic answer cache in front of the pipeline;
//! - [`backends`]: the clients of retrieval (the cluster of `ragmesh_retrieval_client`),
//!   rerank and generation, their health and breakers;
//! - [`http_server`]: the accept loop with its slow-client defences;
//! - [`error`], [`request_context`], [`state`]: what every room shares.
//!
//! Routes and shapes are described in `docs/api.md` at the top of the repository.

pub mod answer_cache;
pub mod api;
pub mod backends;
pub mod error;
pub mod http_server;
pub mod query;
pub mod request_context;
pub mod state;

pub use api::router;
pub use error::GatewayError;
pub use state::AppState;

use ragmesh_config::Settings;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Serves the gateway on `listener` until `shutdown` is cancelled, then stops accepting and
/// lets in-flight requests run to completion for `gateway.shutdown_grace_ms` (a rolling
/// restart must not fail them); answers still running after that end with a 503, or an
/// `error` event on a stream, and the function returns.
pub async fn run(
    settings: Settings,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), GatewayError> {
    // `cut` ends the answers still running once the grace after `shutdown` has passed.
    let cut = CancellationToken::new();
    let grace = std::time::Duration::from_millis(settings.gateway.shutdown_grace_ms);
    let state = AppState::connect(&settings)?.with_shutdown(cut.clone());
    let app = router(state);
    let addr = listener.local_addr().map_err(GatewayError::Serve)?;
    tracing::info!(
        %addr,
        retrieval = %settings.gateway.retrieval_url,
        rerank = %settings.gateway.rerank_url,
        generation = %settings.gateway.generation_url,
        "gateway listening"
    );
    let cut_after_grace = {
        let (shutdown, cut) = (shutdown.clone(), cut.clone());
        tokio::spawn(async move {
            shutdown.cancelled().await;
            tracing::info!(
                grace_ms = grace.as_millis() as u64,
                "draining requests in flight"
            );
            tokio::time::sleep(grace).await;
            cut.cancel();
        })
    };
    let served = http_server::serve(listener, app, &settings.gateway.http, shutdown).await;
    cut_after_grace.abort();
    served.map_err(GatewayError::Serve)?;
    tracing::info!("gateway stopped");
    Ok(())
}
