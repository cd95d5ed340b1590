//! How a [`GatewayError`] goes out over HTTP: the status from the core table, the
//! `{"error":{"code","message"}}` body, `Retry-After` for failures that say when to come back,
//! and one log line (a warning for server-side failures, info for rejected requests).

use crate::error::GatewayError;
use axum::Json;
use axum::response::{IntoResponse, Response};
use ragmesh_core::Classify;

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
    use ragmesh_retrieval_client::ServiceError;

    #[test]
    fn open_breakers_and_shed_calls_say_when_to_come_back() {
        let open = GatewayError::Backend(ServiceError::CircuitOpen {
            service: "retrieval",
            failures: 5,
            retry_after_s: 12,
        });
        let response = open.into_response();
        assert_eq!(response.status().as_u16(), 503);
        assert_eq!(response.headers()[http::header::RETRY_AFTER], "12");
        let shed = GatewayError::Backend(ServiceError::Overloaded {
            service: "generation",
            message: "busy".into(),
            retry_after_s: 1,
        });
        assert_eq!(shed.body()["error"]["code"], "resource_exhausted");
        let response = shed.into_response();
        assert_eq!(response.status().as_u16(), 429);
        assert_eq!(response.headers()[http::header::RETRY_AFTER], "1");
    }
}
