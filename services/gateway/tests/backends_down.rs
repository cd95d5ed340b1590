//! The gateway with every backend unreachable (a closed port): valid requests get a typed 503
//! naming the service and never an answer, the probes tell live from ready, every response
//! carries its ids and security headers, and big rejected bodies are answered cleanly on a
//! real socket. End-to-end runs with the real services and models are in the workspace's tests/.

#![allow(clippy::unwrap_used)]

mod common;

use axum::body::Body;
use common::*;
use http::Request;
use serde_json::{Value, json};
use tower::ServiceExt;

#[tokio::test]
async fn valid_requests_get_a_typed_503_naming_the_unreachable_service() {
    let app = app(1 << 20);
    for path in ["/api/query", "/api/retrieve", "/api/query/stream"] {
        let (status, _, body) = send(
            &app,
            post_json(path, &json!({ "query": "What is a lava lake?" })),
        )
        .await;
        assert_error(
            path,
            status,
            &body,
            503,
            "unavailable",
            "retrieval service unavailable",
        );
        assert!(
            body.get("answer").is_none() && body.get("sources").is_none(),
            "{body}"
        );
    }
    let ingest = json!({ "documents": [{ "source": "a.txt", "text": "Basalt is volcanic." }] });
    let (status, _, body) = send(&app, post_json("/api/collections/c/documents", &ingest)).await;
    assert_error(
        "ingest",
        status,
        &body,
        503,
        "unavailable",
        "retrieval service unavailable",
    );
    let (content_type, upload) = multipart(&[("a.txt", b"Basalt is volcanic.")]);
    let (status, _, body) = send(
        &app,
        post_raw("/api/collections/c/documents", &content_type, upload),
    )
    .await;
    assert_error(
        "upload",
        status,
        &body,
        503,
        "unavailable",
        "retrieval service unavailable",
    );
    for request in [
        Request::get("/api/collections")
            .body(Body::empty())
            .unwrap(),
        Request::get("/api/collections/c/documents")
            .body(Body::empty())
            .unwrap(),
        Request::delete("/api/collections/c/documents?source=a.txt")
            .body(Body::empty())
            .unwrap(),
    ] {
        let case = format!("{} {}", request.method(), request.uri());
        let (status, _, body) = send(&app, request).await;
        assert_error(
            &case,
            status,
            &body,
            503,
            "unavailable",
            "retrieval service unavailable",
        );
    }
}

#[tokio::test]
async fn probes_tell_live_from_ready_and_name_every_missing_service() {
    let app = app(1 << 20);
    let (status, _, body) = send(
        &app,
        Request::get("/health/live").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, _, body) = send(
        &app,
        Request::get("/health/ready").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["status"], "not_ready");
    for service in ["retrieval", "rerank", "generation"] {
        let state = body["services"][service].as_str().unwrap_or_default();
        assert!(state.starts_with("unavailable"), "{service}: {body}");
    }
    assert_eq!(body["message"], "not ready: retrieval, rerank, generation");
}

#[tokio::test]
async fn every_response_has_ids_security_headers_and_is_counted() {
    let app = app(1 << 20);
    let request = Request::get("/health/live")
        .header("x-request-id", "client-id-42")
        .body(Body::empty())
        .unwrap();
    let (_, headers, _) = send(&app, request).await;
    assert_eq!(headers["x-request-id"], "client-id-42");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["referrer-policy"], "no-referrer");

    let (_, headers, _) = send(&app, post_json("/api/query", &json!({ "query": "" }))).await;
    let generated = headers["x-request-id"].to_str().unwrap().to_string();
    assert!(!generated.is_empty());
    let (_, headers, _) = send(&app, Request::get("/nowhere").body(Body::empty()).unwrap()).await;
    assert_ne!(
        headers["x-request-id"].to_str().unwrap(),
        generated,
        "ids are per request"
    );
    assert_eq!(
        headers["x-frame-options"], "DENY",
        "404s get the headers too"
    );

    let response = app
        .clone()
        .oneshot(Request::get("/metrics").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let text = String::from_utf8(
        axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap()
            .to_vec(),
    )
    .unwrap();
    assert!(
        text.contains(
            "ragmesh_http_requests_total{service=\"gateway\",route=\"/api/query\",method=\"POST\",status=\"400\"}"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "ragmesh_http_request_duration_seconds_bucket{service=\"gateway\",route=\"/health/live\",method=\"GET\""
        ),
        "{text}"
    );
}

/// Through a real socket: requests rejected without being used (oversized, wrong type) get
/// their JSON answer; the client must not see a connection reset instead.
#[tokio::test(flavor = "multi_thread")]
async fn rejected_big_bodies_on_a_real_socket_get_their_json_answer() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let shutdown = tokio_util::sync::CancellationToken::new();
    let server = tokio::spawn(ragmesh_gateway::run(
        settings_with_dead_backends(16 << 20),
        listener,
        shutdown.clone(),
    ));

    let huge = vec![b'a'; 17 << 20];
    let client = reqwest::Client::new();
    let response = client
        .post(format!("{url}/api/collections/safe/documents"))
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 413);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "payload_too_large", "{body}");

    // Rejected for its type, not its size: the unread rest must not reset the connection either.
    let big_exe = reqwest::multipart::Part::bytes(vec![b'M'; 8 << 20]).file_name("tool.exe");
    let form = reqwest::multipart::Form::new().part("file", big_exe).part(
        "file",
        reqwest::multipart::Part::bytes(b"# ok".to_vec()).file_name("ok.md"),
    );
    let response = client
        .post(format!("{url}/api/collections/safe/documents"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 415);
    let response = client
        .post(format!("{url}/api/query"))
        .header("content-type", "text/plain")
        .body(vec![b'q'; 8 << 20])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 415);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unsupported_media_type", "{body}");

    shutdown.cancel();
    server.await.unwrap().unwrap();
}
