//! The whole query path through real processes: `ragmesh up` (four services talking real gRPC,
//! real models), documents in, questions out, for every retrieval method and both the JSON and
//! the streaming endpoint.

use crate::support::*;
use ragmesh_testkit::machine;
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn each_question_finds_its_document_with_every_method_and_cites_in_range() {
    let _machine = machine::shared().await;
    let data = tempfile::tempdir().unwrap();
    let up = start_up(data.path());
    let base = up.url.clone();

    let ingested = ingest_corpus(&base, "e2e").await;
    assert_eq!(ingested["documents"], 4, "{ingested}");
    assert!(ingested["chunks"].as_u64().unwrap() >= 4, "{ingested}");

    for (source, question) in QUESTIONS {
        for method in ["hybrid", "bm25", "vector"] {
            let hits = retrieve(&base, "e2e", question, method).await;
            assert_eq!(
                hits.first().map(|h| h.0.as_str()),
                Some(*source),
                "{method} for {question:?} ranked {hits:?}"
            );
        }
    }

    for (source, question) in QUESTIONS {
        let (status, answer) = post(
            &base,
            "/api/query",
            &json!({ "query": question, "collection": "e2e" }),
        )
        .await;
        assert_eq!(status, 200, "{answer}");
        let text = answer["answer"].as_str().unwrap();
        assert!(!text.trim().is_empty(), "empty answer for {question:?}");
        let sources = answer["sources"].as_array().unwrap();
        assert_eq!(sources[0]["source"], *source, "{answer}");
        for (i, s) in sources.iter().enumerate() {
            assert_eq!(s["index"].as_u64().unwrap() as usize, i + 1, "{answer}");
        }
        for n in citation_numbers(text) {
            assert!(
                (1..=sources.len()).contains(&n),
                "citation [{n}] out of range in {text:?}"
            );
        }
        let profile = &answer["profile"];
        let steps = step_names(&answer);
        assert!(
            steps.contains(&"retrieve") && steps.contains(&"generate"),
            "{profile}"
        );
        assert!(
            steps.contains(&profile["bottleneck"].as_str().unwrap()),
            "{profile}"
        );
        assert!(profile["total_ms"].as_f64().unwrap() > 0.0);
        assert_eq!(answer["trace_id"].as_str().unwrap().len(), 32, "{answer}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn streaming_sends_contexts_then_tokens_then_done() {
    let _machine = machine::shared().await;
    let data = tempfile::tempdir().unwrap();
    let up = start_up(data.path());
    let base = up.url.clone();
    ingest_corpus(&base, "default").await;

    let (status, events) = sse(
        &base,
        "/api/query/stream",
        &json!({ "query": QUESTIONS[1].1 }),
    )
    .await;
    assert_eq!(status, 200);
    let kinds: Vec<&str> = events.iter().map(|(e, _)| e.as_str()).collect();
    assert_eq!(kinds.first(), Some(&"contexts"), "{kinds:?}");
    assert_eq!(kinds.last(), Some(&"done"), "{kinds:?}");
    let tokens = kinds.iter().filter(|k| **k == "token").count();
    assert!(tokens >= 1, "{kinds:?}");
    let sentences = kinds.iter().filter(|k| **k == "sentence").count();
    assert_eq!(
        tokens + sentences,
        kinds.len() - 2,
        "only token and sentence events between contexts and done: {kinds:?}"
    );

    let contexts = &events[0].1["sources"];
    assert_eq!(contexts[0]["source"], "sourdough.txt", "{contexts}");
    let done = &events.last().unwrap().1;
    let answer = done["answer"].as_str().unwrap();
    assert!(!answer.trim().is_empty());
    for n in citation_numbers(answer) {
        assert!(
            (1..=contexts.as_array().unwrap().len()).contains(&n),
            "[{n}] in {answer:?}"
        );
    }
    let streamed: String = events
        .iter()
        .filter(|(e, _)| e == "token")
        .map(|(_, d)| d["text"].as_str().unwrap())
        .collect();
    assert!(!streamed.trim().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn uploads_name_documents_after_their_files() {
    let _machine = machine::shared().await;
    let data = tempfile::tempdir().unwrap();
    let up = start_up(data.path());
    let base = up.url.clone();

    let form = reqwest::multipart::Form::new()
        .part(
            "file",
            reqwest::multipart::Part::bytes(
                std::fs::read(corpus_dir().join("kilauea.md")).unwrap(),
            )
            .file_name("kilauea.md"),
        )
        .part(
            "file",
            reqwest::multipart::Part::bytes(
                std::fs::read(corpus_dir().join("sourdough.txt")).unwrap(),
            )
            .file_name("sourdough.txt"),
        );
    let (status, body) = upload(&base, "up", form).await;
    assert_eq!(status, 200);
    assert_eq!(body["documents"], 2, "{body}");

    let (status, listing) = get(&base, "/api/collections/up/documents").await;
    assert_eq!(status, 200);
    let mut names: Vec<&str> = listing["documents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["source"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["kilauea.md", "sourdough.txt"]);
    assert_eq!(
        retrieve(&base, "up", QUESTIONS[0].1, "hybrid").await[0].0,
        "kilauea.md"
    );
}
