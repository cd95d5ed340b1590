//! The gateway's one error type. Every failure a handler can meet becomes a [`GatewayError`]:
//! bad input, or a backend that failed (its error names the service, and the shard of the
//! retrieval cluster). Its kind ([`Classify`]) picks the HTTP status from the table in
//! `ragmesh_core`, and its response body is always `{"error":{"code","message"}}` (written in
//! `crate::api::error_response`) — for bad input, for a backend that is down, and for a
//! backend's own error kind passed through.

use ragmesh_core::{Classify, ErrorCode};
use ragmesh_retrieval_client::{RetrievalError, ServiceError};
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
    /// The request body came too slowly (`[gateway.http]` pace).
    #[error("{0}")]
    RequestTimeout(String),
    /// Refused whoever asks: a cross-site write, a `Host` this gateway does not serve.
    #[error("{0}")]
    Forbidden(String),
    /// A route that does not exist.
    #[error("{0}")]
    NotFound(String),
    /// A call to rerank or generation failed (or to retrieval, as any service): the message
    /// names the service, and the kind the backend reported is kept.
    #[error(transparent)]
    Backend(#[from] ServiceError),
    /// A call to the retrieval cluster failed: the message names the service or the shard.
    #[error(transparent)]
    Retrieval(#[from] RetrievalError),
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
            GatewayError::InvalidArgument(_) => ErrorCode::InvalidArgument,
            GatewayError::UnsupportedMediaType(_) => ErrorCode::UnsupportedMediaType,
            GatewayError::PayloadTooLarge(_) => ErrorCode::PayloadTooLarge,
            GatewayError::UnprocessableEntity(_) => ErrorCode::UnprocessableEntity,
            GatewayError::Extract(e) => e.code(),
            GatewayError::Extraction(_) => ErrorCode::Internal,
            GatewayError::NotFound(_) => ErrorCode::NotFound,
            GatewayError::Forbidden(_) => ErrorCode::Forbidden,
            GatewayError::RequestTimeout(_) => ErrorCode::RequestTimeout,
            GatewayError::Backend(e) => e.code(),
            GatewayError::Retrieval(e) => e.code(),
            GatewayError::ShuttingDown => ErrorCode::Unavailable,
            GatewayError::Serve(_) | GatewayError::Encode(_) => ErrorCode::Internal,
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
            GatewayError::Backend(e) => e.retry_after_s(),
            GatewayError::Retrieval(e) => e.retry_after_s(),
            _ => None,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn statuses_come_from_the_core_table() {
        let down = GatewayError::Backend(ServiceError::Unavailable {
            service: "generation",
            message: "tcp connect error".into(),
        });
        assert_eq!(down.code().http().as_u16(), 503);
        assert_eq!(down.body()["error"]["code"], "unavailable");
        assert_eq!(
            down.body()["error"]["message"],
            "generation service unavailable: tcp connect error"
        );
        let passed = GatewayError::Backend(ServiceError::Status {
            service: "retrieval",
            code: ErrorCode::NotFound,
            message: "collection \"x\" not found".into(),
        });
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
        let late = GatewayError::Backend(ServiceError::DeadlineExceeded {
            service: "rerank",
            ms: 30,
        });
        assert_eq!(late.code().http().as_u16(), 504);
        assert_eq!(
            late.to_string(),
            "rerank service did not answer within 30 ms"
        );
    }
}
