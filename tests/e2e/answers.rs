//! Answers a user can trust, through real processes and real models: the prompt carries
//! selected passages, every answer sentence comes back grounded with citations that point at
//! sources containing its words (JSON and stream), and the extractive mode answers from the
//! sources with no generation service running — while generate mode then stays a 503. What the
//! greedy model writes depends on the CPU, so no test asserts which fact it picks.

use crate::support::*;
use ragmesh_testkit::{Topology, machine};
use serde_json::{Value, json};

/// Lowercased words of at least four letters: what a sentence and its source must share.
fn content_words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.chars().count() >= 4)
        .map(str::to_lowercase)
        .collect()
}

/// Checks the grounding contract of one answer (the JSON response or a stream's `done`):
/// sentences and summary agree, every citation names a passage that was sent, and a cited
/// source contains words of the sentence citing it.
fn assert_grounded(answer: &Value) {
    let sources = answer["sources"].as_array().unwrap();
    let passages = answer["passages"].as_array().unwrap();
    assert!(!passages.is_empty(), "{answer}");
    for p in passages {
        let n = p["index"].as_u64().unwrap() as usize;
        let source = sources[n - 1]["text"].as_str().unwrap();
        let text = p["text"].as_str().unwrap();
        assert!(
            source
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .contains(text),
            "passage {text:?} is not from source [{n}]"
        );
    }
    let sent: Vec<usize> = passages
        .iter()
        .map(|p| p["index"].as_u64().unwrap() as usize)
        .collect();
    let sentences = answer["sentences"].as_array().unwrap();
    assert!(!sentences.is_empty(), "{answer}");
    let grounding = &answer["grounding"];
    assert_eq!(grounding["sentences"], sentences.len(), "{answer}");
    let supported = sentences.iter().filter(|s| s["supported"] == true).count();
    assert_eq!(grounding["supported"], supported, "{answer}");
    assert_eq!(grounding["unsupported_policy"], "flag", "{answer}");
    for s in sentences {
        let citations: Vec<usize> = s["citations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n.as_u64().unwrap() as usize)
            .collect();
        if s["supported"] == false {
            assert!(
                citations.is_empty(),
                "an unsupported sentence is not cited: {s}"
            );
            continue;
        }
        assert!(!citations.is_empty(), "a supported sentence is cited: {s}");
        let words = content_words(s["text"].as_str().unwrap());
        for n in citations {
            assert!(sent.contains(&n), "[{n}] was not sent: {answer}");
            let source = sources[n - 1]["text"].as_str().unwrap().to_lowercase();
            assert!(
                words.is_empty() || words.iter().any(|w| source.contains(w.as_str())),
                "[{n}] shares no word with {s}"
            );
        }
    }
    let cited: Vec<usize> = sentences
        .iter()
        .flat_map(|s| s["citations"].as_array().unwrap().clone())
        .map(|n| n.as_u64().unwrap() as usize)
        .collect();
    for n in citation_numbers(answer["answer"].as_str().unwrap()) {
        assert!(
            cited.contains(&n),
            "[{n}] in the answer but on no sentence: {answer}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn generated_answers_are_grounded_sentence_by_sentence_in_json_and_stream() {
    let _machine = machine::shared().await;
    let data = tempfile::tempdir().unwrap();
    let up = start_up(data.path());
    let base = up.url.clone();
    ingest_corpus(&base, "default").await;

    for (source, question) in &QUESTIONS[..2] {
        let (status, answer) = post(&base, "/api/query", &json!({ "query": question })).await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["answer_mode"], "generate", "{answer}");
        assert_eq!(answer["sources"][0]["source"], *source, "{answer}");
        assert_grounded(&answer);
        let steps = step_names(&answer);
        for step in ["passages", "generate", "grounding"] {
            assert!(
                steps.contains(&step),
                "{step} missing: {}",
                answer["profile"]
            );
        }
        let generation = &answer["generation"];
        assert!(
            generation["prompt_tokens"].as_u64().unwrap() > 0,
            "{answer}"
        );
    }

    // A question not asked before, so the stream is generated (not replayed from the cache).
    let (status, events) = sse(
        &base,
        "/api/query/stream",
        &json!({ "query": QUESTIONS[2].1 }),
    )
    .await;
    assert_eq!(status, 200);
    let kinds: Vec<&str> = events.iter().map(|(e, _)| e.as_str()).collect();
    assert_eq!(kinds.first(), Some(&"contexts"), "{kinds:?}");
    assert_eq!(kinds.last(), Some(&"done"), "{kinds:?}");
    assert!(
        kinds[1..kinds.len() - 1]
            .iter()
            .all(|k| *k == "token" || *k == "sentence"),
        "{kinds:?}"
    );
    let done = &events.last().unwrap().1;
    assert_grounded(done);
    let streamed: Vec<&Value> = events
        .iter()
        .filter(|(e, _)| e == "sentence")
        .map(|(_, d)| d)
        .collect();
    let sentences = done["sentences"].as_array().unwrap();
    assert_eq!(streamed.len(), sentences.len(), "{events:?}");
    for (i, (event, sentence)) in streamed.iter().zip(sentences).enumerate() {
        assert_eq!(event["index"], i);
        assert_eq!(event["text"], sentence["text"]);
        assert_eq!(event["citations"], sentence["citations"]);
        assert_eq!(event["supported"], sentence["supported"]);
    }

    // The cached answer carries the same grounding, and its replay the same sentence events.
    let (status, again) = sse(
        &base,
        "/api/query/stream",
        &json!({ "query": QUESTIONS[2].1 }),
    )
    .await;
    assert_eq!(status, 200);
    let replayed = &again.last().unwrap().1;
    assert_eq!(replayed["cache"]["hit"], true, "{replayed}");
    assert_eq!(replayed["sentences"], done["sentences"]);
    assert_eq!(replayed["grounding"], done["grounding"]);
    assert_eq!(replayed["passages"], done["passages"]);
    let replayed_sentences = again.iter().filter(|(e, _)| e == "sentence").count();
    assert_eq!(replayed_sentences, sentences.len());
}

#[tokio::test(flavor = "multi_thread")]
async fn extractive_answers_need_no_generation_service_and_generate_mode_stays_503() {
    let _machine = machine::shared().await;
    let stack = Topology::new(ragmesh_bin())
        .retrieval(&[])
        .gateway(&[])
        .start()
        .await;
    let base = stack.url().to_string();
    ingest_corpus(&base, "default").await;

    let (source, question) = QUESTIONS[1];
    let body = json!({ "query": question, "answer_mode": "extractive" });
    let (status, answer) = post(&base, "/api/query", &body).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["answer_mode"], "extractive", "{answer}");
    assert!(
        answer.get("generation").is_none(),
        "no model was asked: {answer}"
    );
    assert_grounded(&answer);
    let sentences = answer["sentences"].as_array().unwrap();
    assert!(sentences.len() <= 3, "{answer}");
    let sources = answer["sources"].as_array().unwrap();
    for s in sentences {
        assert_eq!(s["supported"], true, "{s}");
        // Every sentence is a sentence of the source it cites, word for word.
        let n = s["citations"][0].as_u64().unwrap() as usize;
        let text = s["text"].as_str().unwrap();
        let cited = sources[n - 1]["text"].as_str().unwrap();
        let cited = cited.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(cited.contains(text), "{text:?} is not in source [{n}]");
    }
    // No model means no model risk: the best sentence comes from the question's document.
    let first = sentences[0]["citations"][0].as_u64().unwrap() as usize;
    assert_eq!(sources[first - 1]["source"], source, "{answer}");
    let steps = step_names(&answer);
    assert!(
        steps.contains(&"passages") && !steps.contains(&"generate"),
        "{steps:?}"
    );

    let (status, events) = sse(&base, "/api/query/stream", &body).await;
    assert_eq!(status, 200);
    let kinds: Vec<&str> = events.iter().map(|(e, _)| e.as_str()).collect();
    assert_eq!(kinds.first(), Some(&"contexts"), "{kinds:?}");
    assert_eq!(kinds.last(), Some(&"done"), "{kinds:?}");
    assert!(kinds.contains(&"sentence"), "{kinds:?}");
    assert_eq!(events.last().unwrap().1["answer"], answer["answer"]);

    // Without the generation service, generate mode is a 503 naming it — never an
    // extractive answer in its place.
    let (status, refused) = post(&base, "/api/query", &json!({ "query": question })).await;
    assert_eq!(status, 503, "{refused}");
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("generation"),
        "{refused}"
    );
    assert!(refused.get("answer").is_none(), "{refused}");

    let (status, bad) = post(
        &base,
        "/api/query",
        &json!({ "query": question, "answer_mode": "summary" }),
    )
    .await;
    assert_eq!(status, 400, "{bad}");
    assert!(
        bad["error"]["message"]
            .as_str()
            .unwrap()
            .contains("answer_mode"),
        "{bad}"
    );
}
