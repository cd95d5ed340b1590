//! Extractors that turn every way a request can be malformed into the gateway's JSON error
//! instead of axum's plain-text rejections: [`ApiJson`] (content type, syntax, field types,
//! unknown fields, size), [`CollectionName`] (the path segment, validated like everywhere
//! else), and the body-size limit that answers 413 as soon as a declared length is too big.

use crate::error::GatewayError;
use axum::Json;
use axum::body::Body;
use axum::extract::rejection::{JsonRejection, MissingJsonContentType, PathRejection};
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::StreamExt;
use http::{StatusCode, header, request::Parts};
use serde::de::DeserializeOwned;
use std::time::Duration;

/// The configured body limit, carried in the request so rejections can state it.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub usize);

impl BodyLimit {
    pub fn error(self) -> GatewayError {
        GatewayError::PayloadTooLarge(format!(
            "request body is larger than the limit of {} bytes",
            self.0
        ))
    }

    fn of(request_extensions: &http::Extensions) -> BodyLimit {
        request_extensions
            .get::<BodyLimit>()
            .copied()
            .unwrap_or(BodyLimit(0))
    }
}

/// Middleware: rejects a declared `Content-Length` over the limit at once (413), and records
/// the limit for the extractors, which enforce it on bodies of unknown length.
pub async fn enforce_body_limit(
    limit: axum::extract::State<BodyLimit>,
    mut request: Request,
    next: Next,
) -> Response {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit.0.0 as u64) {
        discard_in_background(request.into_body());
        return limit.0.error().into_response();
    }
    request.extensions_mut().insert(limit.0);
    next.run(request).await
}

/// Most bytes of a rejected body read and thrown away so the client can finish sending.
const DISCARD_MAX_BYTES: usize = 64 * 1024 * 1024;
/// Longest time spent on that.
const DISCARD_MAX_TIME: Duration = Duration::from_secs(10);

/// Reads a rejected body to its end (bounded) while the response goes out. Closing a socket
/// with unread data makes the kernel send a reset, and most clients then report a broken pipe
/// instead of the 413 they were sent; reading the rest lets them see the answer.
pub fn discard_in_background(body: Body) {
    tokio::spawn(async move {
        let mut stream = body.into_data_stream();
        let mut discarded = 0usize;
        let deadline = tokio::time::sleep(DISCARD_MAX_TIME);
        tokio::pin!(deadline);
        while discarded <= DISCARD_MAX_BYTES {
            tokio::select! {
                _ = &mut deadline => break,
                chunk = stream.next() => match chunk {
                    Some(Ok(bytes)) => discarded += bytes.len(),
                    _ => break,
                },
            }
        }
    });
}

/// Reads a body that will not be used (bounded by the body limit), so rejecting a request
/// without reading it does not reset the connection under the client.
pub async fn discard(request: Request) {
    let _ = Bytes::from_request(request, &()).await;
}

/// JSON body whose failures are `{"error":...}` responses: 415 without a JSON content type,
/// 413 over the limit, 400 for syntax errors, wrong types (naming the field) and unknown fields.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = GatewayError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let limit = BodyLimit::of(request.extensions());
        if !is_json_content_type(request.headers()) {
            discard(request).await;
            return Err(json_rejection(
                MissingJsonContentType::default().into(),
                limit,
            ));
        }
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|e| json_rejection(e.into(), limit))?;
        // serde would also accept a struct written as an array; the API takes objects only.
        let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
        if first.is_some_and(|b| *b != b'{') {
            return Err(GatewayError::InvalidArgument(
                "invalid request body: expected a JSON object".into(),
            ));
        }
        match Json::<T>::from_bytes(&bytes) {
            Ok(Json(value)) => Ok(ApiJson(value)),
            Err(rejection) => Err(json_rejection(rejection, limit)),
        }
    }
}

/// `application/json` or `application/<something>+json`, parameters ignored.
pub fn is_json_content_type(headers: &http::HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let mime = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
}

fn json_rejection(rejection: JsonRejection, limit: BodyLimit) -> GatewayError {
    // The inner error (serde's, with the field path) is the useful part; axum's text wraps it.
    let detail = |e: &dyn std::error::Error| {
        e.source()
            .map(|s| s.to_string())
            .unwrap_or_else(|| e.to_string())
    };
    match rejection {
        JsonRejection::JsonDataError(e) => {
            GatewayError::InvalidArgument(format!("invalid request body: {}", detail(&e)))
        }
        JsonRejection::JsonSyntaxError(e) => {
            GatewayError::InvalidArgument(format!("malformed JSON: {}", detail(&e)))
        }
        JsonRejection::MissingJsonContentType(_) => GatewayError::UnsupportedMediaType(
            "send the body as JSON with Content-Type: application/json".into(),
        ),
        JsonRejection::BytesRejection(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            limit.error()
        }
        JsonRejection::BytesRejection(e) if crate::http_server::is_body_timeout(&e) => {
            GatewayError::RequestTimeout(detail(&e))
        }
        other => GatewayError::InvalidArgument(format!(
            "cannot read the request body: {}",
            other.body_text()
        )),
    }
}

/// The `{collection}` path segment, validated.
#[derive(Debug)]
pub struct CollectionName(pub String);

impl<S: Send + Sync> FromRequestParts<S> for CollectionName {
    type Rejection = GatewayError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(name) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|e: PathRejection| {
                GatewayError::InvalidArgument(format!(
                    "invalid collection in path: {}",
                    e.body_text()
                ))
            })?;
        crate::query::plan::validate_collection(&name).map(CollectionName)
    }
}

/// Maps axum's multipart errors: 413 over the limit, 400 for broken multipart bodies.
pub fn multipart_error(status: StatusCode, text: String, limit: BodyLimit) -> GatewayError {
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        limit.error()
    } else {
        GatewayError::InvalidArgument(format!("malformed multipart body: {text}"))
    }
}

/// The limit recorded for this request (0 when the middleware did not run).
pub fn body_limit(request: &Request) -> BodyLimit {
    BodyLimit::of(request.extensions())
}
