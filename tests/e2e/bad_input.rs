//! Bad input gets a 4xx with a JSON error naming the problem, and nothing already stored is
//! lost or changed by it.

use crate::support::*;
use ragmesh_testkit::machine;
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn every_bad_input_gets_its_4xx_and_stored_data_is_intact() {
    let _machine = machine::shared().await;
    let data = tempfile::tempdir().unwrap();
    let up = start_up(data.path());
    let base = up.url.clone();
    ingest_corpus(&base, "safe").await;
    let chunks = chunk_count(&base, "safe").await;
    let reference = retrieve(&base, "safe", QUESTIONS[2].1, "hybrid").await;

    let long_query = "x".repeat(4097);
    let json_cases = [
        (
            "/api/query",
            json!({ "query": "" , "collection": "safe"}),
            400,
            "query",
        ),
        (
            "/api/query",
            json!({ "query": "   ", "collection": "safe" }),
            400,
            "query",
        ),
        (
            "/api/query",
            json!({ "query": long_query, "collection": "safe" }),
            400,
            "4096",
        ),
        (
            "/api/query",
            json!({ "query": "ok", "collection": "safe", "k": 0 }),
            400,
            "k",
        ),
        (
            "/api/query",
            json!({ "query": "ok", "collection": "safe", "k": 51 }),
            400,
            "k",
        ),
        (
            "/api/query",
            json!({ "query": "ok", "collection": "../etc" }),
            400,
            "collection",
        ),
        (
            "/api/query",
            json!({ "query": "ok", "collection": "safe", "method": "magic" }),
            400,
            "method",
        ),
        (
            "/api/query",
            json!({ "query": "ok", "collection": "safe", "k": "five" }),
            400,
            "k",
        ),
        (
            "/api/retrieve",
            json!({ "query": "ok", "collection": "safe", "rrf_k": 0 }),
            400,
            "rrf_k",
        ),
        (
            "/api/retrieve",
            json!({ "query": "ok", "collection": "safe", "fusion": "max" }),
            400,
            "fusion",
        ),
        (
            "/api/query/stream",
            json!({ "query": "", "collection": "safe" }),
            400,
            "query",
        ),
        (
            "/api/collections/safe/documents",
            json!({ "documents": [{ "source": "a.txt", "text": "" }] }),
            400,
            "text",
        ),
        (
            "/api/collections/safe/documents",
            json!({ "documents": [{ "source": "", "text": "hello" }] }),
            400,
            "source",
        ),
        (
            "/api/collections/bad..name/documents",
            json!({ "documents": [{ "source": "a", "text": "b" }] }),
            400,
            "collection",
        ),
    ];
    for (path, body, want, mentions) in json_cases {
        let (status, answer) = post(&base, path, &body).await;
        assert_eq!(status, want, "{path} {body} -> {answer}");
        let code = answer["error"]["code"].as_str().unwrap_or_default();
        let message = answer["error"]["message"].as_str().unwrap_or_default();
        assert!(!code.is_empty(), "{path} {body}: no error code in {answer}");
        assert!(
            message.to_lowercase().contains(mentions),
            "{path} {body}: message {message:?} should mention {mentions:?}"
        );
    }

    let (status, answer) = post_raw(
        &base,
        "/api/query",
        "application/json",
        b"{\"query\": ".to_vec(),
    )
    .await;
    assert_eq!(status, 400, "malformed JSON: {answer}");
    assert!(answer["error"]["message"].is_string());

    let (status, answer) = post_raw(&base, "/api/query", "text/plain", b"hello".to_vec()).await;
    assert_eq!(status, 415, "wrong content type: {answer}");

    let huge = vec![b'a'; 17 * 1024 * 1024];
    let (status, answer) = post_raw(
        &base,
        "/api/collections/safe/documents",
        "application/json",
        huge,
    )
    .await;
    assert_eq!(status, 413, "body over the limit: {answer}");

    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(b"MZ\x90\x00".to_vec()).file_name("tool.exe"),
    );
    let (status, body) = upload(&base, "safe", form).await;
    assert_eq!(status, 415);
    assert!(
        body["error"]["message"].as_str().unwrap().contains(".txt"),
        "415 should name the allowed types: {body}"
    );

    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(vec![0xff, 0xfe, 0xfd]).file_name("broken.txt"),
    );
    let (status, body) = upload(&base, "safe", form).await;
    assert_eq!(status, 422);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("broken.txt"),
        "{body}"
    );

    let (status, answer) = post(
        &base,
        "/api/query",
        &json!({ "query": "anything", "collection": "nothing_here" }),
    )
    .await;
    assert_eq!(status, 404, "unknown collection: {answer}");
    let (status, _) = get(&base, "/api/no/such/route").await;
    assert_eq!(status, 404);

    assert_eq!(
        chunk_count(&base, "safe").await,
        chunks,
        "bad input changed stored data"
    );
    assert_eq!(
        retrieve(&base, "safe", QUESTIONS[2].1, "hybrid").await,
        reference
    );
}
