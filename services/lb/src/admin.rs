//! The balancer's admin HTTP listener (`lb.metrics_listen`): the shared `/metrics` and
//! `/log-level` routes, plus
//!
//! - `GET /upstreams` — every upstream with its health, ejection and requests in flight;
//! - `PUT /upstreams` with `{"upstreams": "a:1,b:2", "upstreams_dns": "svc:8080"}` — replaces
//!   the upstream set at once without dropping a connection (omitted keys keep their value);
//!   the answer is the new list. SIGHUP (`ragmesh serve lb`) does the same from the config.
//!
//! Bind it to an internal address: like the other admin listeners it has no authentication.

use crate::discovery::{Discovery, UpstreamSpec};
use crate::upstreams::UpstreamPool;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use ragmesh_config::LbSettings;
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

#[derive(Clone)]
pub struct AdminState {
    pub pool: Arc<UpstreamPool>,
    pub discovery: Arc<Discovery>,
}

/// The body of `PUT /upstreams`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamsBody {
    pub upstreams: Option<String>,
    pub upstreams_dns: Option<String>,
}

pub fn router(state: AdminState) -> Router {
    let own = Router::new()
        .route("/upstreams", get(list).put(replace))
        .with_state(state);
    ragmesh_telemetry::admin_router().merge(own)
}

async fn list(State(state): State<AdminState>) -> Response {
    Json(json!({ "upstreams": state.pool.states() })).into_response()
}

async fn replace(
    State(state): State<AdminState>,
    body: Result<Json<UpstreamsBody>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let bad = |message: String| {
        (
            StatusCode::BAD_REQUEST,
            Json(json!({ "error": { "code": "invalid_argument", "message": message } })),
        )
            .into_response()
    };
    let Json(body) = match body {
        Ok(body) => body,
        Err(e) => {
            return bad(format!(
                "expected {{\"upstreams\": \"host:port,...\"}}: {e}"
            ));
        }
    };
    let current = state.discovery.spec();
    let settings = LbSettings {
        upstreams: body.upstreams.unwrap_or_else(|| current.statics.join(",")),
        upstreams_dns: body
            .upstreams_dns
            .unwrap_or_else(|| current.dns.unwrap_or_default()),
        ..LbSettings::default()
    };
    if let Some(problem) = settings.problem() {
        return bad(problem);
    }
    state
        .discovery
        .reload(UpstreamSpec::from_settings(&settings))
        .await;
    Json(json!({ "upstreams": state.pool.states() })).into_response()
}
