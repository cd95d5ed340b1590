//! The tonic service: each RPC delegates to its handler, logs failures and turns errors into
//! statuses through the shared table (`ragmesh_core::to_status`). Request counts and durations
//! are recorded for every RPC by `ragmesh_telemetry::RequestMetricsLayer` on the server.

use crate::{ComputePool, RetrievalError, RetrievalState, backup, ingest, retrieve};
use ragmesh_core::{Classify, to_status};
use ragmesh_proto::retrieval_server::Retrieval;
use ragmesh_proto::{
    ArchivePart, BackupRequest, DeleteRequest, DeleteResponse, EmbedRequest, EmbedResponse,
    IngestRequest, IngestResponse, ListCollectionsRequest, ListCollectionsResponse,
    ListDocumentsRequest, ListDocumentsResponse, RestorePart, RestoreResponse, RetrieveRequest,
    RetrieveResponse, TermStatsRequest, TermStatsResponse,
};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use tonic::{Request, Response, Status, Streaming};

/// The parts of a backup archive as a server stream.
type ArchiveStream = Pin<Box<dyn tokio_stream::Stream<Item = Result<ArchivePart, Status>> + Send>>;

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

/// Awaits a handler, logs its failure and converts its error.
async fn respond<T>(
    rpc: &'static str,
    handler: impl Future<Output = Result<T, RetrievalError>>,
) -> Result<Response<T>, Status> {
    handler.await.map(Response::new).map_err(|e| {
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

    async fn term_stats(
        &self,
        request: Request<TermStatsRequest>,
    ) -> Result<Response<TermStatsResponse>, Status> {
        respond(
            "TermStats",
            retrieve::term_stats(&self.state, &self.pool, request.into_inner()),
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

    type BackupStream = ArchiveStream;

    async fn backup(
        &self,
        request: Request<BackupRequest>,
    ) -> Result<Response<Self::BackupStream>, Status> {
        let parts = respond(
            "Backup",
            backup::backup(&self.state, &self.pool, request.into_inner()),
        )
        .await?
        .into_inner();
        let stream: ArchiveStream = Box::pin(tokio_stream::iter(parts.into_iter().map(Ok)));
        Ok(Response::new(stream))
    }

    async fn restore(
        &self,
        request: Request<Streaming<RestorePart>>,
    ) -> Result<Response<RestoreResponse>, Status> {
        respond(
            "Restore",
            backup::restore(&self.state, &self.pool, request.into_inner()),
        )
        .await
    }
}
