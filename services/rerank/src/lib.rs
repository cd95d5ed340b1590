//! The rerank service: gRPC `ragmesh.v1.Rerank`, which orders passages for a query with a
//! BERT cross-encoder when `rerank.model_dir` names one, and otherwise keeps the input order
//! and says so (`reranker: "none"`) rather than inventing scores.
//!
//! A thin shell: the model lives in `ragmesh-crossencoder`; this crate validates requests,
//! runs scoring on the service's own rayon pool (so it cannot starve the other services of
//! `ragmesh up`), orders the results and records metrics.

mod error;
mod ranking;
mod service;

pub use error::RerankError;
pub use service::{MAX_PASSAGES, RerankService};

use ragmesh_config::Settings;
use ragmesh_crossencoder::CrossEncoder;
use ragmesh_proto::rerank_server::RerankServer;
use ragmesh_rpc::GrpcHost;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Largest request accepted: 1,000 passages of a few KB each fit comfortably.
const MAX_REQUEST_BYTES: usize = 32 * 1024 * 1024;

/// Loads the configured cross-encoder (if any), then serves `Rerank` and gRPC health on
/// `listener` until `shutdown` is cancelled. A configured model that cannot be loaded is an
/// error: the service never falls back to "none" silently.
pub async fn run(
    settings: Settings,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), RerankError> {
    let config = settings.rerank.clone();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(config.threads)
        .thread_name(|i| format!("rerank-{i}"))
        .build()
        .map_err(|e| RerankError::Pool(e.to_string()))?;
    let encoder = match config.model_dir.filter(|dir| !dir.as_os_str().is_empty()) {
        Some(dir) => {
            let max_length = config.max_length;
            let encoder = tokio::task::spawn_blocking(move || CrossEncoder::load(&dir, max_length))
                .await
                .map_err(|e| RerankError::Worker(e.to_string()))??;
            Some(Arc::new(encoder))
        }
        None => {
            tracing::info!(
                "rerank.model_dir is not set: answering in input order with reranker \"none\""
            );
            None
        }
    };
    let reranker = encoder.as_ref().map_or("none", |e| e.name()).to_string();
    let service = RerankService::new(encoder, pool);

    let host = GrpcHost::new("rerank", settings.rpc.max_concurrent.rerank);
    host.health()
        .set_serving::<RerankServer<RerankService>>()
        .await;
    tracing::info!(%reranker, threads = service.threads(), "rerank service serving");
    let routes = tonic::service::Routes::new(
        RerankServer::new(service).max_decoding_message_size(MAX_REQUEST_BYTES),
    );
    host.serve(routes, listener, shutdown.cancelled_owned())
        .await?;
    tracing::info!("rerank service stopped");
    Ok(())
}
