//! The tonic service: each RPC delegates to its handler, records
//! `ragmesh_rpc_requests_total{service,rpc,code}` and `ragmesh_rpc_duration_seconds{service,rpc}`,
//! and turns errors into statuses through the shared table (`ragmesh_core::to_status`).

use crate::{ComputePool, RetrievalError, RetrievalState, ingest, retrieve};
use ragmesh_core::{Classify, to_status};
use ragmesh_proto::retrieval_server::Retrieval;
use ragmesh_proto::{
    DeleteRequest, DeleteResponse, EmbedRequest, EmbedResponse, IngestRequest, IngestResponse,
    ListCollectionsRequest, ListCollectionsResponse, ListDocumentsRequest, ListDocumentsResponse,
    RetrieveRequest, RetrieveResponse,
};
use std::future::Future;
use std::sync::Arc;
use std::time::Instant;
use tonic::{Request, Response, Status};

const SERVICE: &str = "retrieval";

#[derive(Debug, Clone)]
pub struct RetrievalService {
    state: Arc<RetrievalState>,
    pool: ComputePool,
}

impl RetrievalService {
    pub fn new(state: Arc<RetrievalState>, pool: ComputePool) -> RetrievalService {
        RetrievalService { state, pool }
    }
}

/// Awaits a handler, records its outcome and converts its error.
async fn respond<T>(
    rpc: &'static str,
    handler: impl Future<Output = Result<T, RetrievalError>>,
) -> Result<Response<T>, Status> {
    let started = Instant::now();
    let result = handler.await;
    let code = match &result {
        Ok(_) => "ok",
        Err(e) => e.code().as_str(),
    };
    metrics::counter!("ragmesh_rpc_requests_total", "service" => SERVICE, "rpc" => rpc, "code" => code).increment(1);
    metrics::histogram!("ragmesh_rpc_duration_seconds", "service" => SERVICE, "rpc" => rpc)
        .record(started.elapsed().as_secs_f64());
    result.map(Response::new).map_err(|e| {
        if e.code().http().is_server_error() {
            tracing::error!(rpc, error = %e, "request failed");
        } else {
            tracing::debug!(rpc, error = %e, "request rejected");
        }
        to_status(&e)
    })
}

#[tonic::async_trait]
impl Retrieval for RetrievalService {
    async fn ingest(
        &self,
        request: Request<IngestRequest>,
    ) -> Result<Response<IngestResponse>, Status> {
        respond(
            "Ingest",
            ingest::ingest(&self.state, &self.pool, request.into_inner()),
        )
        .await
    }

    async fn delete(
        &self,
        request: Request<DeleteRequest>,
    ) -> Result<Response<DeleteResponse>, Status> {
        respond(
            "Delete",
            ingest::delete(&self.state, &self.pool, request.into_inner()),
        )
        .await
    }

    async fn embed(
        &self,
        request: Request<EmbedRequest>,
    ) -> Result<Response<EmbedResponse>, Status> {
        respond(
            "Embed",
            retrieve::embed(&self.state, &self.pool, request.into_inner()),
        )
        .await
    }

    async fn retrieve(
        &self,
        request: Request<RetrieveRequest>,
    ) -> Result<Response<RetrieveResponse>, Status> {
        respond(
            "Retrieve",
            retrieve::retrieve(&self.state, &self.pool, request.into_inner()),
        )
        .await
    }

    async fn list_collections(
        &self,
        _request: Request<ListCollectionsRequest>,
    ) -> Result<Response<ListCollectionsResponse>, Status> {
        respond(
            "ListCollections",
            retrieve::list_collections(&self.state, &self.pool),
        )
        .await
    }

    async fn list_documents(
        &self,
        request: Request<ListDocumentsRequest>,
    ) -> Result<Response<ListDocumentsResponse>, Status> {
        respond(
            "ListDocuments",
            retrieve::list_documents(&self.state, &self.pool, request.into_inner()),
        )
        .await
    }
}
