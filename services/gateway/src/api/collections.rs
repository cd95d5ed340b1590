//! Read-only views of what is stored: `GET /api/collections` and
//! `GET /api/collections/{c}/documents`, straight from the retrieval service.

use crate::api::extract::CollectionName;
use crate::api::responses::{
    CollectionSummary, CollectionsResponse, DocumentSummary, DocumentsResponse,
};
use crate::error::GatewayError;
use crate::request_context::RequestContext;
use crate::state::AppState;
use axum::Json;
use axum::extract::{Extension, State};
use ragmesh_proto::v1::ListDocumentsRequest;

pub async fn list_collections(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
) -> Result<Json<CollectionsResponse>, GatewayError> {
    let listed = state
        .pipeline
        .backends()
        .retrieval()
        .list_collections(&ctx)
        .await?;
    let collections = listed
        .collections
        .into_iter()
        .map(|c| CollectionSummary {
            name: c.name,
            documents: c.documents,
            chunks: c.chunks,
        })
        .collect();
    Ok(Json(CollectionsResponse { collections }))
}

pub async fn list_documents(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    CollectionName(collection): CollectionName,
) -> Result<Json<DocumentsResponse>, GatewayError> {
    let request = ListDocumentsRequest {
        collection: collection.clone(),
    };
    let listed = state
        .pipeline
        .backends()
        .retrieval()
        .list_documents(request, &ctx)
        .await?;
    let documents = listed
        .documents
        .into_iter()
        .map(|d| DocumentSummary {
            source: d.source,
            chunks: d.chunks,
            metadata: d.metadata.into_iter().collect(),
        })
        .collect();
    Ok(Json(DocumentsResponse {
        collection,
        documents,
    }))
}
