//! The HTTP API: which path goes to which handler, and the layers every response passes
//! through (request ids and security headers, the cross-site guard, body limits, panics as
//! JSON 500s, JSON 404/405).
//!
//! One file per resource (`query`, `stream`, `collections`, `documents` with `uploads`,
//! `backups`, `cache`, `health`, `admin`); next to them what every handler shares: the JSON
//! shapes answered ([`responses`]) and read ([`ingest_body`]; query bodies are
//! `crate::query::plan`), the extractors ([`extract`]), SSE framing ([`sse`]), the tracking
//! middleware ([`tracking`]) and how an error goes out ([`error_response`]).

mod admin;
mod backups;
mod cache;
mod collections;
pub mod cross_site;
mod documents;
pub mod error_response;
pub mod extract;
mod health;
pub mod ingest_body;
mod query;
pub mod responses;
pub mod sse;
mod stream;
pub mod tracking;
mod uploads;

use crate::api::extract::{BodyLimit, enforce_body_limit};
use crate::api::tracking::track;
use crate::error::GatewayError;
use crate::state::AppState;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{Method, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;
use tower_http::catch_panic::CatchPanicLayer;

/// The gateway's router over `state` (tests drive it directly with `tower::ServiceExt`).
pub fn router(state: AppState) -> Router {
    let cross_site = std::sync::Arc::new(cross_site::CrossSitePolicy::new(&state.settings.http));
    let pace = crate::http_server::BodyPace::from_settings(&state.settings.http);
    let limit = BodyLimit(state.settings.max_body_bytes);
    let restore_limit = BodyLimit(state.settings.max_restore_bytes);
    // Archives get their own (larger) body limit.
    let backups = Router::new()
        .route(
            "/api/collections/{collection}/backup",
            post(backups::backup),
        )
        .route("/api/restore", post(backups::restore))
        .layer(DefaultBodyLimit::max(restore_limit.0))
        .layer(axum::middleware::from_fn_with_state(
            restore_limit,
            enforce_body_limit,
        ));
    Router::new()
        .route("/api/query", post(query::answer))
        .route("/api/query/stream", post(stream::answer_stream))
        .route("/api/retrieve", post(query::retrieve))
        .route("/api/collections", get(collections::list_collections))
        .route(
            "/api/collections/{collection}/documents",
            post(documents::ingest)
                .get(collections::list_documents)
                .delete(documents::delete),
        )
        .route("/api/cache/stats", get(cache::stats))
        .route(
            "/api/cache/config",
            get(cache::get_config).put(cache::put_config),
        )
        .route("/api/cache/clear", post(cache::clear))
        .route("/health/live", get(health::live))
        .route("/health/ready", get(health::ready))
        .route("/metrics", get(health::metrics))
        .route(
            "/api/admin/log-level",
            get(admin::get_log_level).put(admin::put_log_level),
        )
        .route("/api/profile/stats", get(admin::profile_stats))
        .layer(DefaultBodyLimit::max(limit.0))
        .layer(axum::middleware::from_fn_with_state(
            limit,
            enforce_body_limit,
        ))
        .merge(backups)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(axum::middleware::from_fn_with_state(
            pace,
            crate::http_server::pace_body,
        ))
        .layer(axum::middleware::from_fn_with_state(
            cross_site,
            cross_site::guard,
        ))
        .layer(axum::middleware::from_fn(track))
        .layer(ragmesh_telemetry::RequestMetricsLayer::http("gateway"))
        .with_state(state)
}

async fn not_found(method: Method, uri: Uri) -> GatewayError {
    GatewayError::NotFound(format!("no route for {method} {}", uri.path()))
}

/// 405 is the one status outside the core error table: it is about the route, not a kind of
/// failure a backend can report. axum adds the `Allow` header.
async fn method_not_allowed(method: Method, uri: Uri) -> Response {
    let body = json!({ "error": {
        "code": "method_not_allowed",
        "message": format!("{method} is not allowed on {}", uri.path()),
    }});
    (http::StatusCode::METHOD_NOT_ALLOWED, axum::Json(body)).into_response()
}

fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let what = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("unknown panic");
    tracing::error!(panic = what, "handler panicked");
    let body =
        json!({ "error": { "code": "internal", "message": "internal error in the gateway" } });
    (http::StatusCode::INTERNAL_SERVER_ERROR, axum::Json(body)).into_response()
}
