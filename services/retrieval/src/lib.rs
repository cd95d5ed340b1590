//! The retrieval service: gRPC `ragmesh.v1.Retrieval`. It chunks and embeds documents
//! (all-MiniLM-L6-v2 via `ragmesh-embed`), stores them in persistent collections
//! (`ragmesh-index`: tantivy BM25 + HNSW vectors), and answers searches with the vector leg,
//! the BM25 leg or both fused with reciprocal rank fusion.
//!
//! A thin shell: this crate validates requests, runs model and index work on the service's
//! own rayon pool and records metrics; the logic lives in the two library crates.

mod backup;
mod compute_pool;
mod error;
mod ingest;
mod retrieve;
mod service;
mod startup_check;
mod state;

pub use backup::{MAX_ARCHIVE_BYTES, PART_BYTES};
pub use compute_pool::ComputePool;
pub use error::RetrievalError;
pub use ingest::{MAX_DOCUMENTS, MAX_SOURCE_CHARS};
pub use retrieve::{MAX_EMBED_TEXTS, MAX_K, MAX_QUERY_CHARS};
pub use service::RetrievalService;
pub use state::{RetrievalState, embedding_model_dir};

use ragmesh_config::Settings;
use ragmesh_proto::retrieval_server::RetrievalServer;
use ragmesh_rpc::GrpcHost;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Largest request or response: a 16 MB upload arrives as one `Ingest` call, and 1,024
/// embeddings of 384 floats take ~1.6 MB.
const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;

/// Loads the embedding model and opens the collections under `retrieval.data_dir`, then
/// serves `Retrieval` with gRPC health (SERVING for "ragmesh.v1.Retrieval"), reflection and
/// the `rpc.max_concurrent.retrieval` bound (see `ragmesh-rpc`) on `listener`
/// until `shutdown` is cancelled. Collections are closed (pending merges finished) on return.
pub async fn run(
    settings: Settings,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), RetrievalError> {
    // The recorder must exist before the collections are opened: the start-up check and
    // the failure counters record into it.
    ragmesh_telemetry::register_service("retrieval");
    let pool = ComputePool::new(settings.retrieval.threads)?;
    let state = {
        let settings = settings.clone();
        pool.run(move || RetrievalState::load(&settings)).await?
    };
    let state = Arc::new(state);
    let service = RetrievalService::new(Arc::clone(&state), pool.clone());

    let host = GrpcHost::new("retrieval", settings.rpc.max_concurrent.retrieval);
    let health = host.health();
    health
        .set_serving::<RetrievalServer<RetrievalService>>()
        .await;
    tracing::info!(
        threads = pool.threads(),
        model = state.embedder.model_name(),
        "retrieval service serving"
    );
    ingest::register_failure_counters();
    let routes = tonic::service::Routes::new(
        RetrievalServer::new(service)
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES),
    );
    let served = host
        .serve(routes, listener, shutdown.cancelled_owned())
        .await;
    health
        .set_not_serving::<RetrievalServer<RetrievalService>>()
        .await;
    close(state).await?;
    served?;
    tracing::info!("retrieval service stopped");
    Ok(())
}

/// Drops the state once no request holds it any more, off the runtime: closing collections
/// waits for index merges and releases their write locks, so a restarted service (or the
/// next `run` in the same process) can open them.
async fn close(mut state: Arc<RetrievalState>) -> Result<(), RetrievalError> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        match Arc::try_unwrap(state) {
            Ok(owned) => {
                return tokio::task::spawn_blocking(move || drop(owned))
                    .await
                    .map_err(|e| RetrievalError::Worker(e.to_string()));
            }
            Err(shared) if std::time::Instant::now() < deadline => {
                state = shared;
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            Err(_) => {
                tracing::warn!(
                    "requests still running at shutdown; collections close when they finish"
                );
                return Ok(());
            }
        }
    }
}
