//! Writing to a collection: `POST /api/collections/{c}/documents` and
//! `DELETE /api/collections/{c}/documents?source=NAME`.
//!
//! Ingest takes either JSON (`{"documents":[{"source","text","metadata"?}]}`) or a
//! `multipart/form-data` upload of files (read in [`super::uploads`]), whose file names become
//! the sources. Either way one `Ingest` call is made with every document of the request, so a
//! request is stored whole or not at all.
//!
//! Every write that reaches the retrieval service bumps the collection's cache generation, so
//! no gateway serves an answer made before it.

use crate::api::extract::{
    ApiJson, CollectionName, body_limit, discard, is_json_content_type, multipart_error,
};
use crate::api::ingest_body::{IngestBody, validate_documents};
use crate::api::responses::{DeleteResponse, IngestResponse};
use crate::error::GatewayError;
use crate::request_context::RequestContext;
use crate::state::AppState;
use axum::Json;
use axum::extract::{Extension, FromRequest, Multipart, Query, Request, State};
use http::header;
use ragmesh_proto::v1::{DeleteRequest, IngestRequest};
use std::collections::HashMap;

pub async fn ingest(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    CollectionName(collection): CollectionName,
    request: Request,
) -> Result<Json<IngestResponse>, GatewayError> {
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let documents = if content_type.starts_with("multipart/form-data") {
        let limit = body_limit(&request);
        let multipart = Multipart::from_request(request, &state)
            .await
            .map_err(|e| multipart_error(e.status(), e.body_text(), limit))?;
        super::uploads::read_uploads(multipart, limit, &state.settings.extract).await?
    } else if content_type.is_empty() || is_json_content_type(request.headers()) {
        // Without a content type the JSON extractor answers 415 saying what to send.
        let ApiJson(body) = ApiJson::<IngestBody>::from_request(request, &state).await?;
        validate_documents(body.documents, |i, _| format!("documents[{i}]"))?
    } else {
        discard(request).await;
        return Err(GatewayError::UnsupportedMediaType(format!(
            "unsupported content type {content_type:?}: send application/json or multipart/form-data"
        )));
    };
    let request = IngestRequest {
        collection: collection.clone(),
        documents,
    };
    let ingested = state
        .pipeline
        .backends()
        .retrieval()
        .ingest(request, &ctx)
        .await;
    // Even a failed ingest may have changed part of the collection: invalidate either way.
    state.cache.bump_generation(&collection).await;
    let ingested = ingested?;
    tracing::info!(
        collection,
        documents = ingested.documents,
        chunks_added = ingested.chunks_added,
        "ingested"
    );
    Ok(Json(IngestResponse {
        collection,
        documents: ingested.documents,
        chunks: ingested.chunks,
        chunks_added: ingested.chunks_added,
        chunks_removed: ingested.chunks_removed,
    }))
}

pub async fn delete(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    CollectionName(collection): CollectionName,
    params: Result<Query<HashMap<String, String>>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<DeleteResponse>, GatewayError> {
    let Query(params) = params.map_err(|e| {
        GatewayError::InvalidArgument(format!("invalid query string: {}", e.body_text()))
    })?;
    let source = params.get("source").map(|s| s.trim()).unwrap_or("");
    if source.is_empty() {
        return Err(GatewayError::InvalidArgument(
            "missing query parameter source: DELETE /api/collections/{collection}/documents?source=NAME".into(),
        ));
    }
    let request = DeleteRequest {
        collection: collection.clone(),
        source: source.to_string(),
    };
    let deleted = state
        .pipeline
        .backends()
        .retrieval()
        .delete(request, &ctx)
        .await;
    state.cache.bump_generation(&collection).await;
    let deleted = deleted?;
    tracing::info!(
        collection,
        source,
        chunks_deleted = deleted.chunks_deleted,
        "deleted"
    );
    Ok(Json(DeleteResponse {
        collection,
        source: source.to_string(),
        chunks_deleted: deleted.chunks_deleted,
    }))
}
