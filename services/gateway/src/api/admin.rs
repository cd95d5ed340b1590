//! Operator routes: the log level at run time (`GET`/`PUT /api/admin/log-level`) and the
//! recent per-step latency statistics (`GET /api/profile/stats`, see [`crate::query::profile_window`]).

use crate::api::extract::ApiJson;
use crate::error::GatewayError;
use crate::query::profile_window::ProfileStats;
use crate::state::AppState;
use axum::extract::State;
use ragmesh_telemetry::LogLevelBody;
use serde_json::{Value, json};

/// `GET /api/admin/log-level`: `{"level": "info"}` (null when logging is not ragmesh's own).
pub async fn get_log_level() -> axum::Json<Value> {
    axum::Json(json!({ "level": ragmesh_telemetry::log_level() }))
}

/// `PUT /api/admin/log-level` with `{"level": "ragmesh_gateway=debug,info"}`: applies at once;
/// a directive that is not valid is a 400 and the old level stays.
pub async fn put_log_level(
    ApiJson(body): ApiJson<LogLevelBody>,
) -> Result<axum::Json<Value>, GatewayError> {
    let level = ragmesh_telemetry::set_log_level(&body.level)?;
    Ok(axum::Json(json!({ "level": level })))
}

/// `GET /api/profile/stats`: this gateway's window of recent query profiles.
pub async fn profile_stats(State(state): State<AppState>) -> axum::Json<ProfileStats> {
    axum::Json(state.pipeline.profile_window().stats())
}
