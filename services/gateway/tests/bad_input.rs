//! Bad input through the gateway's real router: every malformed or out-of-range request gets
//! its 4xx JSON error naming the problem. All backends point at a closed port, so a request
//! that reached one would come back as 503 instead: these pass only if validation comes first.

#![allow(clippy::unwrap_used)]

mod common;

use axum::body::Body;
use common::*;
use http::{Request, header};
use serde_json::json;

#[tokio::test]
async fn every_bad_query_is_a_400_naming_the_field_before_any_backend_call() {
    let app = app(1 << 20);
    let long = "x".repeat(4097);
    let cases = [
        (json!({ "query": "" }), "query must not be empty"),
        (json!({ "query": " \t\n" }), "query must not be empty"),
        (json!({ "query": long }), "the limit is 4096"),
        (json!({ "query": "ok", "k": "five" }), "k: invalid type"),
        (json!({ "query": "ok", "k": -1 }), "k: invalid value"),
        (
            json!({ "query": "ok", "rrf_k": 0 }),
            "rrf_k must be between 1 and 10000",
        ),
        (
            json!({ "query": "ok", "rrf_k": 10001 }),
            "rrf_k must be between 1 and 10000",
        ),
        (
            json!({ "query": "ok", "collection": "../etc" }),
            "invalid collection name",
        ),
        (
            json!({ "query": "ok", "collection": "" }),
            "invalid collection name",
        ),
        (
            json!({ "query": "ok", "method": "magic" }),
            "use one of hybrid, vector, bm25",
        ),
        (
            json!({ "query": "ok", "fusion": "combsum" }),
            "unknown fusion \"combsum\": use one of score, rrf",
        ),
        (
            json!({ "query": "ok", "fusion": "score", "rrf_k": 30 }),
            "rrf_k has no effect with fusion \"score\"",
        ),
        (
            json!({ "query": "ok", "rerank": "yes" }),
            "rerank: invalid type",
        ),
        (
            json!({ "query": "ok", "filters": { "lang": 1 } }),
            "filters.lang: invalid type",
        ),
        (
            json!({ "query": "ok", "colection": "x" }),
            "unknown field `colection`",
        ),
        (json!({ "k": 3 }), "missing field `query`"),
        (json!(["query"]), "invalid request body"),
    ];
    // Answers use at most 50 sources; /api/retrieve may return up to 1000 chunks.
    for (path, max_k) in [
        ("/api/query", 50),
        ("/api/retrieve", 1000),
        ("/api/query/stream", 50),
    ] {
        let k_cases = [
            (
                json!({ "query": "ok", "k": 0 }),
                format!("k must be between 1 and {max_k}, got 0"),
            ),
            (
                json!({ "query": "ok", "k": max_k + 1 }),
                format!("k must be between 1 and {max_k}, got {}", max_k + 1),
            ),
        ];
        let k_cases = k_cases.iter().map(|(b, m)| (b.clone(), m.as_str()));
        for (body, mentions) in cases.iter().cloned().chain(k_cases) {
            let (status, _, answer) = send(&app, post_json(path, &body)).await;
            assert_error(
                &format!("{path} {body}"),
                status,
                &answer,
                400,
                "invalid_argument",
                mentions,
            );
        }
    }
}

#[tokio::test]
async fn malformed_bodies_wrong_types_and_oversized_bodies_get_json_errors() {
    let app = app(1024);
    let (status, _, body) = send(
        &app,
        post_raw("/api/query", "application/json", "{\"query\": "),
    )
    .await;
    assert_error(
        "truncated JSON",
        status,
        &body,
        400,
        "invalid_argument",
        "malformed JSON",
    );

    let (status, _, body) = send(&app, post_raw("/api/query", "text/plain", "hello")).await;
    assert_error(
        "text/plain",
        status,
        &body,
        415,
        "unsupported_media_type",
        "application/json",
    );
    let no_type = Request::post("/api/query")
        .body(Body::from("{\"query\":\"q\"}"))
        .unwrap();
    let (status, _, body) = send(&app, no_type).await;
    assert_error(
        "no content type",
        status,
        &body,
        415,
        "unsupported_media_type",
        "application/json",
    );

    // Declared length over the limit: rejected before the body is read.
    let big = json!({ "query": "x".repeat(2000) }).to_string();
    let (status, _, body) = send(
        &app,
        post_raw("/api/query", "application/json", big.clone()),
    )
    .await;
    assert_error(
        "content-length over limit",
        status,
        &body,
        413,
        "payload_too_large",
        "1024 bytes",
    );
    // Unknown length (chunked): the extractor stops reading at the limit.
    let chunks = futures::stream::iter(
        big.into_bytes()
            .chunks(100)
            .map(|c| Ok::<_, std::io::Error>(c.to_vec()))
            .collect::<Vec<_>>(),
    );
    let (status, _, body) = send(
        &app,
        post_raw("/api/query", "application/json", Body::from_stream(chunks)),
    )
    .await;
    assert_error(
        "chunked over limit",
        status,
        &body,
        413,
        "payload_too_large",
        "1024 bytes",
    );

    let (status, _, body) = send(
        &app,
        Request::get("/api/no/such/route")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_error(
        "unknown route",
        status,
        &body,
        404,
        "not_found",
        "/api/no/such/route",
    );
    let (status, headers, body) = send(
        &app,
        Request::get("/api/query").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(status, 405, "{body}");
    assert_eq!(body["error"]["code"], "method_not_allowed");
    assert_eq!(
        headers.get(header::ALLOW).map(|v| v.to_str().unwrap()),
        Some("POST")
    );
}

#[tokio::test]
async fn bad_documents_and_uploads_are_rejected_whole_before_any_backend_call() {
    let app = app(1 << 20);
    let path = "/api/collections/safe/documents";
    let json_cases = [
        (
            path,
            json!({ "documents": [] }),
            "documents must not be empty",
        ),
        (
            path,
            json!({ "documents": [{ "source": "a.txt", "text": "" }] }),
            "documents[0].text must not be empty",
        ),
        (
            path,
            json!({ "documents": [{ "source": "", "text": "hello" }] }),
            "documents[0].source must not be empty",
        ),
        (
            path,
            json!({ "documents": [{ "source": "a", "text": "b", "metadata": { "k": 1 } }] }),
            "metadata.k: invalid type",
        ),
        (
            path,
            json!({ "documents": [{ "source": "a", "text": "b" }, { "source": "a", "text": "c" }] }),
            "appears twice",
        ),
        (
            "/api/collections/bad..name/documents",
            json!({ "documents": [{ "source": "a", "text": "b" }] }),
            "invalid collection name",
        ),
    ];
    for (path, body, mentions) in json_cases {
        let (status, _, answer) = send(&app, post_json(path, &body)).await;
        assert_error(
            &format!("{path} {body}"),
            status,
            &answer,
            400,
            "invalid_argument",
            mentions,
        );
    }

    let (content_type, body) = multipart(&[("tool.exe", b"MZ\x90\x00")]);
    let (status, _, answer) = send(&app, post_raw(path, &content_type, body)).await;
    assert_error(
        "exe upload",
        status,
        &answer,
        415,
        "unsupported_media_type",
        ".txt, .md",
    );

    let (content_type, body) = multipart(&[("broken.txt", &[0xff, 0xfe, 0xfd])]);
    let (status, _, answer) = send(&app, post_raw(path, &content_type, body)).await;
    assert_error(
        "non-UTF-8 upload",
        status,
        &answer,
        422,
        "unprocessable_entity",
        "broken.txt",
    );

    // One good file and one bad: the bad one rejects the request, so nothing reaches retrieval
    // (which, being down, would have answered 503).
    let (content_type, body) = multipart(&[("good.md", b"# fine"), ("slides.pptx", b"PK")]);
    let (status, _, answer) = send(&app, post_raw(path, &content_type, body)).await;
    assert_error(
        "mixed upload",
        status,
        &answer,
        415,
        "unsupported_media_type",
        "slides.pptx",
    );
    // A supported type whose content is broken: 422 naming the file, still nothing stored.
    let (content_type, body) = multipart(&[("good.md", b"# fine"), ("slides.pdf", b"%PDF")]);
    let (status, _, answer) = send(&app, post_raw(path, &content_type, body)).await;
    assert_error(
        "corrupt upload",
        status,
        &answer,
        422,
        "unprocessable_entity",
        "slides.pdf",
    );

    let (content_type, body) = multipart(&[("empty.txt", b"  \n")]);
    let (status, _, answer) = send(&app, post_raw(path, &content_type, body)).await;
    // A file with no text cannot be ingested: 422, as for any unreadable content (docs/api.md).
    assert_error(
        "empty upload",
        status,
        &answer,
        422,
        "unprocessable_entity",
        "empty.txt",
    );

    let (status, _, answer) = send(&app, post_raw(path, "text/csv", "a,b")).await;
    assert_error(
        "csv body",
        status,
        &answer,
        415,
        "unsupported_media_type",
        "multipart/form-data",
    );

    let delete = Request::delete(path).body(Body::empty()).unwrap();
    let (status, _, answer) = send(&app, delete).await;
    assert_error(
        "delete without source",
        status,
        &answer,
        400,
        "invalid_argument",
        "source",
    );
}
