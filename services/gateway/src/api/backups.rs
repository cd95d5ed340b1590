//! Admin routes for backups: `POST /api/collections/{c}/backup` streams the collection's
//! archive (a consistent point-in-time view taken while it keeps serving), and
//! `POST /api/restore[?collection=NAME&replace=true]` takes one as the body
//! (`Content-Type: application/octet-stream`, anything else is a 415 so a web page cannot send
//! it without a preflight), bounded by `gateway.max_restore_bytes`. The archive is verified by the retrieval service before
//! anything is written: a corrupt or truncated one is a 422 naming what is wrong, an occupied
//! name a 409 unless `replace=true`. A restore bumps the collection's cache generation, like
//! every other write.
//!
//! The archive is never held whole here: its body goes to retrieval in parts as it arrives
//! ([`archive_parts`]), so the gateway's memory per restore is one part, and retrieval judges
//! the archive's head from the first part — garbage is refused before the rest is read.

use crate::api::extract::{BodyLimit, CollectionName, body_limit};
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
    if let Err(e) = crate::api::cross_site::require_content_type(
        request.headers(),
        "application/octet-stream",
        "POST /api/restore",
    ) {
        crate::api::extract::discard_in_background(request.into_body());
        return Err(e);
    }
    let Query(params) = params.map_err(|e| {
        GatewayError::InvalidArgument(format!("invalid query string: {}", e.body_text()))
    })?;
    let name = match params.collection.as_deref().map(str::trim) {
        Some(name) if !name.is_empty() => crate::query::plan::validate_collection(name)?,
        _ => String::new(),
    };
    let limit = body_limit(&request);
    let (failed, body_failed) = tokio::sync::oneshot::channel();
    let parts = archive_parts(request.into_body(), limit, (name, params.replace), failed);
    let call = std::pin::pin!(state.pipeline.backends().retrieval().restore(parts, &ctx));
    // Whichever ends first: the restore (retrieval refuses a bad head at its first part), or
    // the body failing (too large, too slow, empty), which cancels the restore.
    let restored = match futures::future::select(call, body_failed).await {
        futures::future::Either::Left((restored, _)) => restored,
        futures::future::Either::Right((Ok(error), _)) => return Err(error),
        // The body ended without failing: the restore has all of it.
        futures::future::Either::Right((Err(_), call)) => call.await,
    };
    if let Ok(report) = &restored {
        state.cache.bump_generation(&report.collection).await;
    }
    let restored = restored?;
    tracing::info!(
        collection = restored.collection,
        documents = restored.documents,
        chunks = restored.chunks,
        replaced = restored.replaced,
        "restored"
    );
    Ok(Json(RestoreAnswer {
        collection: restored.collection,
        documents: restored.documents,
        chunks: restored.chunks,
        replaced: restored.replaced,
    }))
}

/// The request body as restore parts of about [`PART_BYTES`], the first carrying the target
/// name and `replace`, sent into a small channel by a task of their own (so at most a few
/// parts are held). When the body fails (past `limit`, too slow, empty) the error goes to
/// `failed` and the channel stays open without an end, so retrieval never takes a truncated
/// archive for a whole one: the handler cancels the call instead. When retrieval stops
/// listening (it refused the archive), the task stops reading the body.
fn archive_parts(
    body: Body,
    limit: BodyLimit,
    target: (String, bool),
    failed: tokio::sync::oneshot::Sender<GatewayError>,
) -> tokio::sync::mpsc::Receiver<RestorePart> {
    let (parts, receiver) = tokio::sync::mpsc::channel(2);
    tokio::spawn(pump_parts(body, limit, target, parts, failed));
    receiver
}

async fn pump_parts(
    body: Body,
    limit: BodyLimit,
    target: (String, bool),
    parts: tokio::sync::mpsc::Sender<RestorePart>,
    failed: tokio::sync::oneshot::Sender<GatewayError>,
) {
    let mut body = body.into_data_stream();
    let mut buffer = Vec::with_capacity(PART_BYTES);
    let mut total = 0usize;
    let mut target = Some(target);
    let mut part = |buffer: &mut Vec<u8>| {
        let (collection, replace) = target.take().unwrap_or_default();
        RestorePart {
            data: std::mem::take(buffer),
            collection,
            replace,
        }
    };
    let error = loop {
        match body.next().await {
            Some(Ok(bytes)) => {
                total += bytes.len();
                if total > limit.0 {
                    break limit.error();
                }
                buffer.extend_from_slice(&bytes);
                if buffer.len() >= PART_BYTES && parts.send(part(&mut buffer)).await.is_err() {
                    return; // the restore already ended (refused): read no more
                }
            }
            Some(Err(e)) if crate::http_server::is_body_timeout(&e) => {
                break GatewayError::RequestTimeout(e.to_string());
            }
            Some(Err(e)) => {
                break GatewayError::InvalidArgument(format!("the archive upload broke off: {e}"));
            }
            None if total == 0 => {
                break GatewayError::InvalidArgument(
                    "send the backup archive as the request body".into(),
                );
            }
            None => {
                if !buffer.is_empty() {
                    let _ = parts.send(part(&mut buffer)).await;
                }
                return; // dropping `parts` ends the stream: the archive is whole
            }
        }
    };
    let _ = failed.send(error);
    parts.closed().await;
}
