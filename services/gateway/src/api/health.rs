//! Probes and metrics: `/health/live` (the process answers), `/health/ready` (every backend
//! answers grpc.health.v1 SERVING; otherwise 503 naming the ones that do not; each answer also
//! sets `ragmesh_backend_up{backend}`, and the JSON shows each backend's circuit breaker:
//! `closed`, `half_open` or `open`) and `/metrics`.

use crate::backends::health::BackendHealth;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use serde_json::{Map, Value, json};

pub async fn live() -> Json<Value> {
    Json(json!({ "status": "live" }))
}

pub async fn ready(State(state): State<AppState>) -> Response {
    let health = state.pipeline.backends().health().await;
    let mut breakers = Map::new();
    for (backend, breaker) in state.pipeline.backends().breakers() {
        breakers.insert(
            backend.name().to_string(),
            Value::String(breaker.as_str().into()),
        );
    }
    let mut services = Map::new();
    let mut not_ready = Vec::new();
    for (backend, status) in &health {
        let up = if *status == BackendHealth::Serving {
            1.0
        } else {
            0.0
        };
        metrics::gauge!("ragmesh_backend_up", "backend" => backend.name()).set(up);
        services.insert(backend.name().to_string(), Value::String(status.label()));
        if *status != BackendHealth::Serving {
            not_ready.push(backend.name());
        }
    }
    if not_ready.is_empty() {
        return (
            StatusCode::OK,
            Json(json!({ "status": "ready", "services": services, "breakers": breakers })),
        )
            .into_response();
    }
    let body = json!({
        "status": "not_ready",
        "services": services,
        "breakers": breakers,
        "message": format!("not ready: {}", not_ready.join(", ")),
    });
    (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
}

pub async fn metrics() -> Response {
    let mut response = ragmesh_telemetry::render_metrics().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}
