//! Hostile input through the gateway's real router and its real HTTP server (issue 22): a
//! decompression bomb, cross-site writes and DNS rebinding, unsafe cache settings, slow
//! clients. Backends point at a closed port, so a request that got past its defence would come
//! back 503 instead of the 4xx asserted here.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use axum::body::Body;
use common::*;
use http::{Request, header};
use serde_json::json;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn app_with(settings: &ragmesh_config::Settings) -> axum::Router {
    ragmesh_gateway::router(ragmesh_gateway::AppState::connect(settings).unwrap())
}

#[tokio::test]
async fn a_pdf_bomb_upload_is_413_naming_the_file_and_the_limit() {
    let mut settings = settings_with_dead_backends(16 << 20);
    settings.gateway.extract.max_inflated_bytes_per_file = 1 << 20;
    let app = app_with(&settings);
    // 8 MiB of zeros deflated to a few KiB: eight times the configured bound.
    let bomb = ragmesh_testkit::documents::pdf_bomb(8 << 20);
    let (content_type, body) = multipart(&[("bomb.pdf", &bomb)]);
    let (status, _, body) = send(
        &app,
        post_raw("/api/collections/docs/documents", &content_type, body),
    )
    .await;
    assert_error(
        "bomb",
        status,
        &body,
        413,
        "payload_too_large",
        "file \"bomb.pdf\" (PDF) decompresses to more than 1048576 decompressed bytes, the limit \
         per file ([gateway.extract] max_inflated_bytes_per_file)",
    );

    // Two files that each pass the per-file bound but not the request's together.
    settings.gateway.extract.max_inflated_bytes_per_file = 3 << 20;
    settings.gateway.extract.max_inflated_bytes_per_request = 4 << 20;
    let app = app_with(&settings);
    let half = ragmesh_testkit::documents::pdf_bomb(2 << 20);
    let (content_type, body) = multipart(&[("one.pdf", &half), ("two.pdf", &half)]);
    let (status, _, body) = send(
        &app,
        post_raw("/api/collections/docs/documents", &content_type, body),
    )
    .await;
    assert_error(
        "request budget",
        status,
        &body,
        413,
        "payload_too_large",
        // 4 MiB less what one.pdf inflated to (2 MiB of zeros and its 36-byte text line).
        "file \"two.pdf\" (PDF) decompresses to more than the 2097116 decompressed bytes left of \
         the 4194304 allowed per request ([gateway.extract] max_inflated_bytes_per_request)",
    );
}

#[tokio::test]
async fn foreign_hosts_and_origins_are_403_and_undeclared_content_types_415() {
    let app = app(1 << 20);
    let request = |method: &str, path: &str, headers: &[(&str, &str)], body: &str| {
        let mut builder = Request::builder().method(method).uri(path);
        for (k, v) in headers {
            builder = builder.header(*k, *v);
        }
        builder.body(Body::from(body.to_string())).unwrap()
    };
    let json = ("content-type", "application/json");
    let (upload_type, upload) = multipart(&[("notes.txt", b"overwrite me")]);
    let cases: Vec<(&str, Request<Body>, u16, &str, &str)> = vec![
        (
            "DNS rebinding read",
            request(
                "GET",
                "/api/collections",
                &[("host", "attacker.example:8080")],
                "",
            ),
            403,
            "forbidden",
            "Host \"attacker.example\" is not served here",
        ),
        (
            "cross-site cache clear",
            request(
                "POST",
                "/api/cache/clear",
                &[
                    ("host", "localhost:8080"),
                    ("origin", "https://evil.example"),
                    json,
                ],
                "{}",
            ),
            403,
            "forbidden",
            "cross-site POST from origin \"https://evil.example\" refused",
        ),
        (
            "cross-site upload",
            Request::post("/api/collections/docs/documents")
                .header("host", "127.0.0.1:8080")
                .header("origin", "null")
                .header(header::CONTENT_TYPE, &upload_type)
                .body(Body::from(upload.clone()))
                .unwrap(),
            403,
            "forbidden",
            "cross-site POST from origin \"null\"",
        ),
        (
            "text/plain cache clear",
            request(
                "POST",
                "/api/cache/clear",
                &[("content-type", "text/plain")],
                "",
            ),
            415,
            "unsupported_media_type",
            "POST /api/cache/clear takes Content-Type: application/json, got \"text/plain\"",
        ),
        (
            "cache clear without a type",
            request("POST", "/api/cache/clear", &[], ""),
            415,
            "unsupported_media_type",
            "got none",
        ),
        (
            "text/plain restore",
            request(
                "POST",
                "/api/restore?replace=true",
                &[("content-type", "text/plain")],
                "RMBACKUP",
            ),
            415,
            "unsupported_media_type",
            "POST /api/restore takes Content-Type: application/octet-stream",
        ),
    ];
    for (case, request, want, code, mentions) in cases {
        let (status, headers, body) = send(&app, request).await;
        assert_error(case, status, &body, want, code, mentions);
        assert!(headers.contains_key("x-request-id"), "{case}");
    }

    // The gateway's own origin, and requests without one (CLI, curl), are served.
    for headers in [
        vec![
            ("host", "localhost:8080"),
            ("origin", "http://localhost:8080"),
            json,
        ],
        vec![json],
    ] {
        let (status, _, body) = send(&app, request("POST", "/api/cache/clear", &headers, "")).await;
        assert_eq!(status.as_u16(), 200, "{headers:?}: {body}");
        assert_eq!(body["cleared"], "all");
    }
}

#[tokio::test]
async fn unsafe_cache_settings_are_422_saying_which_rule() {
    let app = app(1 << 20);
    let put = |body: serde_json::Value| {
        Request::put("/api/cache/config")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string()))
            .unwrap()
    };
    let cases = [
        (
            json!({ "threshold": 0.0001, "verify": false }),
            "threshold 0.0001 is below 0.8",
        ),
        (
            json!({ "verify": false }),
            "verify can be off only at threshold >= 0.97",
        ),
        (
            json!({ "ttl_secs": u64::MAX }),
            "ttl_secs must be at most 2592000",
        ),
        (
            json!({ "l2_max_entries": 1_000_001 }),
            "l2_max_entries must be at most 1000000",
        ),
    ];
    for (body, mentions) in cases {
        let (status, _, answer) = send(&app, put(body.clone())).await;
        assert_error(
            &body.to_string(),
            status,
            &answer,
            422,
            "unprocessable_entity",
            mentions,
        );
    }
    let (_, _, config) = send(
        &app,
        Request::get("/api/cache/config")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(
        config["verify"], true,
        "nothing refused was applied: {config}"
    );
    let (status, _, config) = send(&app, put(json!({ "threshold": 0.5, "force": true }))).await;
    assert_eq!(status.as_u16(), 200, "{config}");
    assert_eq!(config["threshold"].as_f64().unwrap() as f32, 0.5);
}

/// A real gateway server on a free port with short slow-client bounds.
async fn serve_with_short_timeouts() -> (std::net::SocketAddr, tokio_util::sync::CancellationToken)
{
    let mut settings = settings_with_dead_backends(1 << 20);
    settings.gateway.http.header_read_timeout_ms = 500;
    settings.gateway.http.body_read_timeout_ms = 500;
    settings.gateway.shutdown_grace_ms = 100;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = tokio_util::sync::CancellationToken::new();
    tokio::spawn(ragmesh_gateway::run(settings, listener, shutdown.clone()));
    (addr, shutdown)
}

/// Reads until the server closes the connection; what it sent on the way.
async fn read_until_closed(stream: &mut tokio::net::TcpStream) -> String {
    let mut all = Vec::new();
    // Generous: the configured bound is 0.5 s; a server without one never closes.
    tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut all))
        .await
        .expect("the server kept the connection open")
        .unwrap();
    String::from_utf8_lossy(&all).into_owned()
}

#[tokio::test]
async fn slow_clients_are_disconnected() {
    let (addr, shutdown) = serve_with_short_timeouts().await;

    // A partial request head, never finished (slowloris).
    let mut partial = tokio::net::TcpStream::connect(addr).await.unwrap();
    partial
        .write_all(b"GET /health/live HTTP/1.1\r\nHost: localhost\r\n")
        .await
        .unwrap();
    read_until_closed(&mut partial).await;

    // An idle keep-alive connection after one answered request.
    let mut idle = tokio::net::TcpStream::connect(addr).await.unwrap();
    idle.write_all(b"GET /health/live HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let seen = read_until_closed(&mut idle).await;
    assert!(seen.starts_with("HTTP/1.1 200"), "{seen}");

    // A body announced at 100 bytes, stalled after 10: 408 naming the bound, then closed.
    let mut stalled = tokio::net::TcpStream::connect(addr).await.unwrap();
    stalled
        .write_all(
            b"PUT /api/cache/config HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"ttl_secs\"",
        )
        .await
        .unwrap();
    let seen = read_until_closed(&mut stalled).await;
    assert!(seen.starts_with("HTTP/1.1 408"), "{seen}");
    assert!(seen.contains("came too slowly"), "{seen}");
    shutdown.cancel();
}

#[tokio::test]
async fn connections_past_the_cap_wait_for_a_free_slot() {
    let mut settings = settings_with_dead_backends(1 << 20);
    settings.gateway.http.max_connections = 1;
    settings.gateway.http.header_read_timeout_ms = 2_000;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = tokio_util::sync::CancellationToken::new();
    tokio::spawn(ragmesh_gateway::run(settings, listener, shutdown.clone()));

    // The one slot is held by a client that sends nothing.
    let holder = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut second = tokio::net::TcpStream::connect(addr).await.unwrap();
    second
        .write_all(b"GET /health/live HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    // The second is served only once the first is gone (closed by its header timeout).
    let seen = read_until_closed(&mut second).await;
    assert!(seen.starts_with("HTTP/1.1 200"), "{seen}");
    // By the time the second was answered, the holder had been closed (its end of stream is
    // already there to read, without waiting), and it got no answer.
    let mut buf = [0u8; 64];
    assert_eq!(
        holder.try_read(&mut buf).unwrap(),
        0,
        "the holder was closed first"
    );
    shutdown.cancel();
}
