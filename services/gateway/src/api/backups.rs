//! Admin routes for backups: `POST /api/collections/{c}/backup` streams the collection's
//! archive (a consistent point-in-time view taken while it keeps serving), and
//! `POST /api/restore[?collection=NAME&replace=true]` takes one as the body, bounded by
//! `gateway.max_restore_bytes`. The archive is verified by the retrieval service before
//! anything is written: a corrupt or truncated one is a 422 naming what is wrong, an occupied
//! name a 409 unless `replace=true`. A restore bumps the collection's cache generation, like
//! every other write.

use crate::api::extract::{CollectionName, body_limit};
use crate::error::GatewayError;
use crate::request_context::RequestContext;
use crate::state::AppState;
use axum::Json;
use axum::body::Body;
use axum::extract::{Extension, Query, Request, State};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use http::header;
use ragmesh_proto::v1::{BackupRequest, RestorePart};
use serde::{Deserialize, Serialize};

/// Size of the parts an archive is forwarded in.
const PART_BYTES: usize = 1024 * 1024;

pub async fn backup(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    CollectionName(collection): CollectionName,
) -> Result<Response, GatewayError> {
    let request = BackupRequest {
        collection: collection.clone(),
    };
    let parts = state
        .pipeline
        .backends()
        .retrieval()
        .backup(request, &ctx)
        .await?;
    tracing::info!(collection, "backup streaming");
    let body = Body::from_stream(parts.map(|part| {
        part.map(|p| bytes::Bytes::from(p.data))
            .map_err(|status| std::io::Error::other(status.message().to_string()))
    }));
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{collection}.ragmesh-backup\""),
            ),
        ],
        body,
    )
        .into_response())
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestoreParams {
    /// Restore under this name instead of the one in the archive.
    collection: Option<String>,
    #[serde(default)]
    replace: bool,
}

#[derive(Debug, Serialize)]
pub struct RestoreAnswer {
    collection: String,
    documents: u32,
    chunks: u32,
    replaced: bool,
}

pub async fn restore(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    params: Result<Query<RestoreParams>, axum::extract::rejection::QueryRejection>,
    request: Request,
) -> Result<Json<RestoreAnswer>, GatewayError> {
    let Query(params) = params.map_err(|e| {
        GatewayError::InvalidArgument(format!("invalid query string: {}", e.body_text()))
    })?;
    let name = match params.collection.as_deref().map(str::trim) {
        Some(name) if !name.is_empty() => crate::query::plan::validate_collection(name)?,
        _ => String::new(),
    };
    let limit = body_limit(&request);
    let archive = axum::body::to_bytes(request.into_body(), limit.0)
        .await
        .map_err(|_| limit.error())?;
    if archive.is_empty() {
        return Err(GatewayError::InvalidArgument(
            "send the backup archive as the request body".into(),
        ));
    }
    let mut parts: Vec<RestorePart> = archive
        .chunks(PART_BYTES)
        .map(|data| RestorePart {
            data: data.to_vec(),
            ..RestorePart::default()
        })
        .collect();
    if let Some(first) = parts.first_mut() {
        first.collection = name;
        first.replace = params.replace;
    }
    let restored = state
        .pipeline
        .backends()
        .retrieval()
        .restore(parts, &ctx)
        .await;
    if let Ok(report) = &restored {
        state.cache.bump_generation(&report.collection).await;
    }
    let restored = restored?;
    tracing::info!(
        collection = restored.collection,
        documents = restored.documents,
        chunks = restored.chunks,
        replaced = restored.replaced,
        bytes = archive.len(),
        "restored"
    );
    Ok(Json(RestoreAnswer {
        collection: restored.collection,
        documents: restored.documents,
        chunks: restored.chunks,
        replaced: restored.replaced,
    }))
}
