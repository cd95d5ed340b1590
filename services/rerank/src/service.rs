//! The `Rerank` RPC: validates the request, scores the pairs on the service's own rayon pool
//! in chunks (stopping between chunks when the caller has gone away), orders the results and
//! records `ragmesh_rerank_duration_seconds`, `ragmesh_rerank_batch_size` and
//! `ragmesh_rerank_pairs_total` (request counts come from the server's metrics layer).

use crate::RerankError;
use crate::ranking::{keep_input_order, rank_by_score};
use ragmesh_core::to_status;
use ragmesh_crossencoder::CrossEncoder;
use ragmesh_proto::rerank_server::Rerank;
use ragmesh_proto::{RerankRequest, RerankResponse};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;
use tonic::{Request, Response, Status};

/// Most passages one request may carry.
pub const MAX_PASSAGES: usize = 1000;

/// Passages handed to the cross-encoder per call; cancellation is checked between calls.
const SCORE_CHUNK: usize = 64;

/// The gRPC service. With no cross-encoder it answers in input order with reranker "none".
pub struct RerankService {
    encoder: Option<Arc<CrossEncoder>>,
    pool: Arc<rayon::ThreadPool>,
}

impl RerankService {
    pub fn new(encoder: Option<Arc<CrossEncoder>>, pool: rayon::ThreadPool) -> RerankService {
        RerankService {
            encoder,
            pool: Arc::new(pool),
        }
    }

    /// Threads of the scoring pool.
    pub fn threads(&self) -> usize {
        self.pool.current_num_threads()
    }

    async fn handle(&self, request: RerankRequest) -> Result<RerankResponse, RerankError> {
        if request.query.trim().is_empty() {
            return Err(RerankError::InvalidArgument(
                "query must not be empty".into(),
            ));
        }
        if request.passages.len() > MAX_PASSAGES {
            return Err(RerankError::InvalidArgument(format!(
                "{} passages given; at most {MAX_PASSAGES} per request",
                request.passages.len()
            )));
        }
        let top_n = request.top_n as usize;
        let Some(encoder) = self.encoder.clone() else {
            // Counted too, so traffic through a service without a model is visible.
            metrics::counter!("ragmesh_rerank_pairs_total", "reranker" => "none")
                .increment(request.passages.len() as u64);
            return Ok(RerankResponse {
                results: keep_input_order(request.passages.len(), top_n),
                reranker: "none".into(),
            });
        };
        let reranker = encoder.name().to_string();
        if request.passages.is_empty() {
            return Ok(RerankResponse {
                results: Vec::new(),
                reranker,
            });
        }
        let started = Instant::now();
        let pairs = request.passages.len();
        let scores = self.score(encoder, request.query, request.passages).await?;
        metrics::histogram!("ragmesh_rerank_duration_seconds")
            .record(started.elapsed().as_secs_f64());
        metrics::histogram!("ragmesh_rerank_batch_size").record(pairs as f64);
        metrics::counter!("ragmesh_rerank_pairs_total", "reranker" => "cross_encoder")
            .increment(pairs as u64);
        Ok(RerankResponse {
            results: rank_by_score(&scores, top_n),
            reranker,
        })
    }

    async fn score(
        &self,
        encoder: Arc<CrossEncoder>,
        query: String,
        passages: Vec<String>,
    ) -> Result<Vec<f32>, RerankError> {
        let cancelled = Arc::new(AtomicBool::new(false));
        // Dropped when the RPC future is dropped (caller gone) or finishes.
        let _cancel_on_drop = CancelOnDrop(cancelled.clone());
        let pool = self.pool.clone();
        tokio::task::spawn_blocking(move || {
            pool.install(|| {
                let mut scores = Vec::with_capacity(passages.len());
                for chunk in passages.chunks(SCORE_CHUNK) {
                    if cancelled.load(Ordering::Relaxed) {
                        return Err(RerankError::Cancelled);
                    }
                    let refs: Vec<&str> = chunk.iter().map(String::as_str).collect();
                    scores.extend(encoder.score(&query, &refs)?);
                }
                Ok(scores)
            })
        })
        .await
        .map_err(|e| RerankError::Worker(e.to_string()))?
    }
}

struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

#[tonic::async_trait]
impl Rerank for RerankService {
    async fn rerank(
        &self,
        request: Request<RerankRequest>,
    ) -> Result<Response<RerankResponse>, Status> {
        match self.handle(request.into_inner()).await {
            Ok(response) => Ok(Response::new(response)),
            Err(e) => {
                tracing::warn!(error = %e, "rerank failed");
                Err(to_status(&e))
            }
        }
    }
}
