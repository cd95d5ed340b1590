//! The small HTTP listener every gRPC service runs next to its gRPC port, at its
//! `metrics_listen` address, so Prometheus can scrape it and an operator can change its log
//! level without a restart:
//!
//! - `GET /metrics` — the Prometheus text exposition of this process;
//! - `GET /log-level` — `{"level":"info"}`;
//! - `PUT /log-level` with `{"level":"ragmesh_retrieval=debug,info"}` — applies it at once
//!   (400 naming the problem when the directive is not valid; the old level stays).
//!
//! Bind it to an internal address: like the gRPC ports it has no authentication.

use crate::TelemetryError;
use axum::Json;
use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use serde_json::json;
use std::net::SocketAddr;
use tokio_util::sync::CancellationToken;

/// Binds `addr` and serves the admin routes until `shutdown` is cancelled. An empty address
/// means "no listener" (under `ragmesh up` the gateway's `/metrics` shows every service).
/// Returns the bound address (port 0 picks a free one).
pub async fn spawn_admin_listener(
    addr: &str,
    shutdown: CancellationToken,
) -> Result<Option<SocketAddr>, TelemetryError> {
    if addr.trim().is_empty() {
        return Ok(None);
    }
    let listener = tokio::net::TcpListener::bind(addr.trim())
        .await
        .map_err(|e| TelemetryError::Listen(addr.to_string(), e))?;
    let local = listener
        .local_addr()
        .map_err(|e| TelemetryError::Listen(addr.to_string(), e))?;
    let app = admin_router();
    tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await;
        if let Err(e) = served {
            tracing::error!(error = %e, "admin listener failed");
        }
    });
    tracing::info!(addr = %local, "metrics and log level served over HTTP");
    Ok(Some(local))
}

/// The admin routes (also usable inside another router).
pub fn admin_router() -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/log-level", get(get_level).put(put_level))
}

/// `GET /metrics` with the Prometheus text content type.
pub async fn metrics() -> Response {
    let mut response = super::recorder::render_metrics().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}

/// The body of `PUT /log-level`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogLevelBody {
    pub level: String,
}

async fn get_level() -> Response {
    Json(json!({ "level": crate::logs::log_level() })).into_response()
}

async fn put_level(
    body: Result<Json<LogLevelBody>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let error = |status: StatusCode, code: &str, message: String| {
        (
            status,
            Json(json!({ "error": { "code": code, "message": message } })),
        )
            .into_response()
    };
    let Json(body) = match body {
        Ok(body) => body,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid_argument",
                format!("expected {{\"level\": \"...\"}}: {e}"),
            );
        }
    };
    match crate::logs::set_log_level(&body.level) {
        Ok(level) => Json(json!({ "level": level })).into_response(),
        Err(e) => {
            let code = ragmesh_core::Classify::code(&e);
            error(code.http(), code.as_str(), e.to_string())
        }
    }
}
