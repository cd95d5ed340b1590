//! Writing to a collection: `POST /api/collections/{c}/documents` and
//! `DELETE /api/collections/{c}/documents?source=NAME`.
//!
//! Ingest takes either JSON (`{"documents":[{"source","text","metadata"?}]}`) or a
//! `multipart/form-data` upload of `.txt`/`.md` files, whose file names become the sources.
//! An upload is all or nothing: every part is read and checked (type, UTF-8, not empty, no
//! name twice) before one `Ingest` call is made, so a bad file stores nothing from the request.
//!
//! Every write that reaches the retrieval service bumps the collection's cache generation, so
//! no gateway serves an answer made before it.

use crate::errors::GatewayError;
use crate::extract::{
    ApiJson, BodyLimit, CollectionName, body_limit, discard, is_json_content_type, multipart_error,
};
use crate::request_context::RequestContext;
use crate::responses::{DeleteResponse, IngestResponse};
use crate::state::AppState;
use crate::validate::{DocumentBody, IngestBody, validate_documents};
use axum::Json;
use axum::extract::{Extension, FromRequest, Multipart, Query, Request, State};
use http::header;
use ragmesh_proto::v1::{DeleteRequest, Document, IngestRequest};
use std::collections::HashMap;

/// File types an upload may contain (plain text; the name is matched case-insensitively).
pub const UPLOAD_EXTENSIONS: [&str; 2] = ["txt", "md"];

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
        read_uploads(multipart, limit).await?
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
    let ingested = state.pipeline.backends().ingest(request, &ctx).await;
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

/// Reads every file part, checking each; the first bad part rejects the whole request. The
/// parts after a bad one are still read (the body limit bounds them) so the client can finish
/// sending and see the error instead of a reset connection.
async fn read_uploads(
    mut multipart: Multipart,
    limit: BodyLimit,
) -> Result<Vec<Document>, GatewayError> {
    let mut documents = Vec::new();
    let mut first_error = None;
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| multipart_error(e.status(), e.body_text(), limit))?
    {
        let file_name = field.file_name().map(str::to_string);
        let part = field.name().unwrap_or("").to_string();
        let bytes = field
            .bytes()
            .await
            .map_err(|e| multipart_error(e.status(), e.body_text(), limit))?;
        if first_error.is_some() {
            continue;
        }
        let document = match file_name {
            None => Err(GatewayError::InvalidArgument(format!(
                "multipart part {part:?} is not a file: upload documents as file parts ({})",
                allowed_extensions()
            ))),
            Some(name) => check_extension(&name)
                .and_then(|()| upload_text(&name, &bytes))
                .map(|text| DocumentBody {
                    source: name,
                    text,
                    metadata: None,
                }),
        };
        match document {
            Ok(document) => documents.push(document),
            Err(e) => first_error = Some(e),
        }
    }
    if let Some(e) = first_error {
        return Err(e);
    }
    if documents.is_empty() {
        return Err(GatewayError::InvalidArgument(format!(
            "the upload has no files: send one or more file parts ({})",
            allowed_extensions()
        )));
    }
    validate_documents(documents, |_, doc| format!("file {:?}", doc.source))
}

fn allowed_extensions() -> String {
    UPLOAD_EXTENSIONS.map(|e| format!(".{e}")).join(", ")
}

/// 415 unless the file name ends in an allowed extension.
pub fn check_extension(file_name: &str) -> Result<(), GatewayError> {
    let extension = file_name
        .rsplit_once('.')
        .map(|(_, ext)| ext.to_ascii_lowercase());
    if extension.is_some_and(|ext| UPLOAD_EXTENSIONS.contains(&ext.as_str())) {
        return Ok(());
    }
    Err(GatewayError::UnsupportedMediaType(format!(
        "unsupported file type {file_name:?}: upload {} files",
        allowed_extensions()
    )))
}

/// The file's text: UTF-8 (a leading byte-order mark is dropped), else 422 naming the file.
pub fn upload_text(file_name: &str, bytes: &[u8]) -> Result<String, GatewayError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match std::str::from_utf8(bytes) {
        Ok(text) => Ok(text.to_string()),
        Err(e) => Err(GatewayError::UnprocessableEntity(format!(
            "file {file_name:?} is not UTF-8 text (invalid byte at offset {})",
            e.valid_up_to()
        ))),
    }
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
    let deleted = state.pipeline.backends().delete(request, &ctx).await;
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use ragmesh_core::Classify;

    #[test]
    fn only_text_files_are_accepted_and_messages_name_them() {
        assert!(check_extension("notes.TXT").is_ok());
        assert!(check_extension("guide.md").is_ok());
        for bad in ["tool.exe", "README", "archive.md.zip", ".txt.pdf"] {
            let err = check_extension(bad).unwrap_err();
            assert_eq!(err.code().http().as_u16(), 415, "{bad}");
            assert!(
                err.to_string().contains(".txt, .md") && err.to_string().contains(bad),
                "{err}"
            );
        }
        assert_eq!(upload_text("a.txt", b"\xEF\xBB\xBFhello").unwrap(), "hello");
        let err = upload_text("broken.txt", &[b'o', b'k', 0xff]).unwrap_err();
        assert_eq!(err.code().http().as_u16(), 422);
        assert_eq!(
            err.to_string(),
            "file \"broken.txt\" is not UTF-8 text (invalid byte at offset 2)"
        );
    }
}
