//! Helpers shared by the gateway's HTTP tests: the real router over settings whose backends
//! all point at a closed loopback port, and one-line request/assert helpers.
#![allow(dead_code, clippy::unwrap_used)]

use axum::body::Body;
use http::{Request, StatusCode, header};
use ragmesh_config::Settings;
use ragmesh_gateway::{AppState, router};
use serde_json::Value;
use tower::ServiceExt;

/// A loopback port nothing listens on: port 9, below the ephemeral range, so no listener
/// another test binds on port 0 can be handed it (a port bound and released could be).
pub fn closed_port_url() -> String {
    "http://127.0.0.1:9".to_string()
}

pub fn settings_with_dead_backends(max_body_bytes: usize) -> Settings {
    let mut settings = Settings::default();
    settings.gateway.retrieval_url = closed_port_url();
    settings.gateway.rerank_url = closed_port_url();
    settings.gateway.generation_url = closed_port_url();
    settings.gateway.max_body_bytes = max_body_bytes;
    settings.gateway.rpc_timeout_ms = 5_000;
    settings
}

pub fn app(max_body_bytes: usize) -> axum::Router {
    router(AppState::connect(&settings_with_dead_backends(max_body_bytes)).unwrap())
}

pub async fn send(
    app: &axum::Router,
    request: Request<Body>,
) -> (StatusCode, http::HeaderMap, Value) {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    let body = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()));
    (status, headers, body)
}

pub fn post_json(path: &str, body: &Value) -> Request<Body> {
    Request::post(path)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap()
}

pub fn post_raw(path: &str, content_type: &str, body: impl Into<Body>) -> Request<Body> {
    Request::post(path)
        .header(header::CONTENT_TYPE, content_type)
        .body(body.into())
        .unwrap()
}

/// A multipart body with one file part per (file name, bytes).
pub fn multipart(files: &[(&str, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "ragmesh-test-boundary";
    let mut body = Vec::new();
    for (name, bytes) in files {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

pub fn assert_error(
    case: &str,
    status: StatusCode,
    body: &Value,
    want_status: u16,
    want_code: &str,
    mentions: &str,
) {
    assert_eq!(status.as_u16(), want_status, "{case}: {body}");
    assert_eq!(body["error"]["code"], want_code, "{case}: {body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(mentions),
        "{case}: message {message:?} should mention {mentions:?}"
    );
}
