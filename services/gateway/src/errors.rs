//! The gateway's one error type. Every failure a handler can meet becomes a [`GatewayError`],
//! whose kind ([`Classify`]) picks the HTTP status from the table in `ragmesh_core`, and whose
//! response body is always `{"error":{"code","message"}}` — for bad input, for a backend that
//! is down, and for a backend's own error kind passed through.

use crate::backends::Backend;
use axum::Json;
use axum::response::{IntoResponse, Response};
use ragmesh_core::{Classify, ErrorCode};
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// Bad request field, malformed JSON, bad collection name, missing parameter.
    #[error("{0}")]
    InvalidArgument(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    /// Well-formed request whose content cannot be used (e.g. an upload that is not UTF-8).
    #[error("{0}")]
    UnprocessableEntity(String),
    /// An uploaded file of a type not accepted (415) or whose text cannot be read (422); the
    /// message names the file.
    #[error(transparent)]
    Extract(#[from] ragmesh_extract::ExtractError),
    /// Text extraction did not finish (its task panicked or was cancelled).
    #[error("{0}")]
    Extraction(String),
    /// A route that does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The backend could not be reached, or said it cannot serve now.
    #[error("{service} service unavailable: {message}")]
    Unavailable { service: Backend, message: String },
    /// No replica of one retrieval shard answered (or a write could not be kept for a replica
    /// that missed it): `shard` counts from 1.
    #[error("retrieval shard {shard} of {shards} is unavailable: {message}")]
    ShardUnavailable {
        shard: usize,
        shards: usize,
        message: String,
    },
    /// The backend's circuit breaker is open: nothing was sent, the answer is immediate.
    #[error(
        "{service} service unavailable: circuit breaker open after {failures} consecutive failures; retry in {retry_after_s} s"
    )]
    CircuitOpen {
        service: Backend,
        failures: u32,
        retry_after_s: u64,
    },
    /// The backend shed the call (it is at its concurrency limit): try again shortly.
    #[error("{service} service is overloaded: {message}")]
    Overloaded {
        service: Backend,
        message: String,
        retry_after_s: u64,
    },
    /// The backend did not answer within the deadline this gateway gave it.
    #[error("{service} service did not answer within {ms} ms")]
    DeadlineExceeded { service: Backend, ms: u64 },
    /// Any other error kind a backend reported; the kind is kept so the status is the same.
    #[error("{service} service: {message}")]
    Backend {
        service: Backend,
        code: ErrorCode,
        message: String,
    },
    /// A backend answered something that breaks the contract (e.g. a rerank index out of range).
    #[error("{service} service broke its contract: {message}")]
    BadBackendAnswer { service: Backend, message: String },
    #[error("invalid {service} service URL {url:?}: {reason}")]
    BackendUrl {
        service: Backend,
        url: String,
        reason: String,
    },
    #[error("the gateway is shutting down")]
    ShuttingDown,
    /// A response could not be encoded as JSON (a bug, never the request's fault).
    #[error("cannot encode the response: {0}")]
    Encode(String),
    #[error("HTTP server failed: {0}")]
    Serve(#[source] std::io::Error),
    /// Logging or metrics could not do what was asked (e.g. a log level that is not valid).
    #[error(transparent)]
    Telemetry(#[from] ragmesh_telemetry::TelemetryError),
}

impl Classify for GatewayError {
    fn code(&self) -> ErrorCode {
        match self {
            GatewayError::InvalidArgument(_) | GatewayError::BackendUrl { .. } => {
                ErrorCode::InvalidArgument
            }
            GatewayError::UnsupportedMediaType(_) => ErrorCode::UnsupportedMediaType,
            GatewayError::PayloadTooLarge(_) => ErrorCode::PayloadTooLarge,
            GatewayError::UnprocessableEntity(_) => ErrorCode::UnprocessableEntity,
            GatewayError::Extract(e) => e.code(),
            GatewayError::Extraction(_) => ErrorCode::Internal,
            GatewayError::NotFound(_) => ErrorCode::NotFound,
            GatewayError::Unavailable { .. }
            | GatewayError::ShardUnavailable { .. }
            | GatewayError::CircuitOpen { .. }
            | GatewayError::ShuttingDown => ErrorCode::Unavailable,
            GatewayError::Overloaded { .. } => ErrorCode::ResourceExhausted,
            GatewayError::DeadlineExceeded { .. } => ErrorCode::DeadlineExceeded,
            GatewayError::Backend { code, .. } => *code,
            GatewayError::BadBackendAnswer { .. }
            | GatewayError::Serve(_)
            | GatewayError::Encode(_) => ErrorCode::Internal,
            GatewayError::Telemetry(e) => e.code(),
        }
    }
}

impl GatewayError {
    /// The `{"error":{"code","message"}}` body.
    pub fn body(&self) -> serde_json::Value {
        json!({ "error": { "code": self.code().as_str(), "message": self.to_string() } })
    }

    /// Seconds a client should wait before trying again (sent as `Retry-After`), for
    /// failures that say so: an open breaker, a shed call.
    pub fn retry_after_s(&self) -> Option<u64> {
        match self {
            GatewayError::CircuitOpen { retry_after_s, .. }
            | GatewayError::Overloaded { retry_after_s, .. } => Some(*retry_after_s),
            _ => None,
        }
    }
}

impl IntoResponse for GatewayError {
    fn into_response(self) -> Response {
        let code = self.code();
        if code.http().is_server_error() {
            tracing::warn!(code = code.as_str(), error = %self, "request failed");
        } else {
            tracing::info!(code = code.as_str(), error = %self, "request rejected");
        }
        let retry_after = self.retry_after_s();
        let mut response = (code.http(), Json(self.body())).into_response();
        if let Some(seconds) = retry_after {
            response
                .headers_mut()
                .insert(http::header::RETRY_AFTER, http::HeaderValue::from(seconds));
        }
        response
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn statuses_come_from_the_core_table() {
        let down = GatewayError::Unavailable {
            service: Backend::Generation,
            message: "tcp connect error".into(),
        };
        assert_eq!(down.code().http().as_u16(), 503);
        assert_eq!(down.body()["error"]["code"], "unavailable");
        assert_eq!(
            down.body()["error"]["message"],
            "generation service unavailable: tcp connect error"
        );
        let passed = GatewayError::Backend {
            service: Backend::Retrieval,
            code: ErrorCode::NotFound,
            message: "collection \"x\" not found".into(),
        };
        assert_eq!(passed.code().http().as_u16(), 404);
        assert_eq!(
            GatewayError::UnsupportedMediaType("x".into())
                .code()
                .http()
                .as_u16(),
            415
        );
        assert_eq!(
            GatewayError::PayloadTooLarge("x".into())
                .code()
                .http()
                .as_u16(),
            413
        );
        assert_eq!(
            GatewayError::UnprocessableEntity("x".into())
                .code()
                .http()
                .as_u16(),
            422
        );
        let late = GatewayError::DeadlineExceeded {
            service: Backend::Rerank,
            ms: 30,
        };
        assert_eq!(late.code().http().as_u16(), 504);
        assert_eq!(
            late.to_string(),
            "rerank service did not answer within 30 ms"
        );
    }

    #[test]
    fn open_breakers_and_shed_calls_say_when_to_come_back() {
        let open = GatewayError::CircuitOpen {
            service: Backend::Retrieval,
            failures: 5,
            retry_after_s: 12,
        };
        let response = open.into_response();
        assert_eq!(response.status().as_u16(), 503);
        assert_eq!(response.headers()[http::header::RETRY_AFTER], "12");
        let shed = GatewayError::Overloaded {
            service: Backend::Generation,
            message: "busy".into(),
            retry_after_s: 1,
        };
        assert_eq!(shed.body()["error"]["code"], "resource_exhausted");
        let response = shed.into_response();
        assert_eq!(response.status().as_u16(), 429);
        assert_eq!(response.headers()[http::header::RETRY_AFTER], "1");
    }
}
