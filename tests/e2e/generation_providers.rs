//! Remote generation providers end to end: HTTP → gateway → real gRPC → generation service →
//! provider, inside `ragmesh up` (real retrieval with real embeddings). Ollama and OpenAI
//! cannot run here, so the `ollama` provider talks to `ragmesh_testkit::ChatDouble`, a protocol
//! double speaking Ollama's NDJSON `/api/chat`, and `openai` is pointed at a closed port to
//! prove an unreachable provider is a 503 naming it. The double also answers the instruction
//! calls of `rewrite` and `multihop`, so their steps can be checked exactly.

use crate::support::*;
use ragmesh_testkit::{CLOSED_URL, ChatDouble, Protocol, Reply, machine, system_text, user_text};
use serde_json::{Value, json};

/// What the double says: rewordings, sub-questions, follow-ups, or an answer citing [1], [2]
/// and [4] (of which only the contexts really sent may survive).
fn script(body: &Value) -> Reply {
    let system = system_text(body);
    if system.starts_with("Rewrite the user's question") {
        Reply::text(&[
            "1. How often is a sourdough starter fed?\n",
            "2. Feeding schedule of a sourdough starter\n",
        ])
    } else if system.starts_with("Break the user's question") {
        Reply::text(&["- Which volcano had a lava lake?\n- What is a shield volcano?"])
    } else if system.starts_with("The contexts are what was found so far") {
        assert!(
            user_text(body).contains("Contexts:\n\n[1] ("),
            "follow-ups see passages: {body}"
        );
        Reply::text(&["Where is Kilauea?"])
    } else {
        Reply::text(&[
            "Fed daily [1]",
            " at room temperature [2]",
            " or weekly [4].",
        ])
    }
}

fn steps(answer: &Value) -> Vec<(String, Option<String>)> {
    answer["profile"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_string(),
                s["detail"].as_str().map(str::to_string),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn remote_providers_answer_through_the_gateway_with_honest_citations() {
    let _machine = machine::shared().await;
    let double = ChatDouble::start(Protocol::Ollama, script).await;
    let dead_openai = format!("{CLOSED_URL}/v1");
    let data = tempfile::tempdir().unwrap();
    let up = ragmesh_testkit::RagmeshProcess::up(
        ragmesh_bin(),
        data.path(),
        &[
            // Every request below must reach the provider; the semantic cache (which would
            // answer the repeated question itself) is tested in the cache module.
            ("RAGMESH__CACHE__ENABLED", "false"),
            ("RAGMESH__GENERATION__PROVIDER", "ollama"),
            ("RAGMESH__GENERATION__EMBEDDED_ENABLED", "false"),
            ("RAGMESH__GENERATION__OLLAMA__BASE_URL", &double.base_url),
            ("RAGMESH__GENERATION__OLLAMA__MODEL", "llama3.2"),
            // Room for about one fixture chunk: packing must drop the lower-ranked ones.
            ("RAGMESH__GENERATION__OLLAMA__MAX_PROMPT_TOKENS", "300"),
            ("RAGMESH__GENERATION__OPENAI__BASE_URL", &dead_openai),
            ("RAGMESH__GENERATION__OPENAI__MODEL", "gpt-4o-mini"),
        ],
    );
    let base = up.url.clone();
    ingest_corpus(&base, "default").await;
    let question = "How often should a sourdough starter be fed at room temperature?";

    // The configured default (ollama) and the same provider named explicitly.
    for body in [
        json!({ "query": question, "k": 4 }),
        json!({ "query": question, "k": 4, "provider": "ollama" }),
    ] {
        let (status, answer) = post(&base, "/api/query", &body).await;
        assert_eq!(status, 200, "{answer}");
        let generation = &answer["generation"];
        assert_eq!(generation["provider"], "ollama", "{answer}");
        assert_eq!(generation["model"], "ollama:llama3.2");
        assert_eq!(
            generation["prompt_version"],
            ragmesh_config::PromptSettings::default().version()
        );
        let sent: Vec<u64> = generation["contexts_sent"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap())
            .collect();
        let sources = answer["sources"].as_array().unwrap().len();
        assert_eq!(sources, 4, "{answer}");
        assert!(
            !sent.is_empty() && sent.len() < sources,
            "packing dropped the lowest-ranked: {sent:?}"
        );
        assert_eq!(sent, (1..=sent.len() as u64).collect::<Vec<_>>());
        let text = answer["answer"].as_str().unwrap();
        for n in [1u64, 2, 4] {
            assert_eq!(
                text.contains(&format!("[{n}]")),
                sent.contains(&n),
                "[{n}] kept only if context {n} was sent ({sent:?}): {text:?}"
            );
        }
    }

    // Unknown provider: 422 before anything is called. Unreachable one: 503 naming it.
    let (status, body) = post(
        &base,
        "/api/query",
        &json!({ "query": question, "provider": "gpt" }),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["code"], "unprocessable_entity");
    let (status, body) = post(
        &base,
        "/api/query",
        &json!({ "query": question, "provider": "openai" }),
    )
    .await;
    assert_eq!(status, 503, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("openai backend is unreachable at"),
        "{message}"
    );

    // Streaming through the provider: contexts, tokens, done with the generation info.
    let (status, events) = sse(
        &base,
        "/api/query/stream",
        &json!({ "query": question, "k": 4, "provider": "ollama" }),
    )
    .await;
    assert_eq!(status, 200);
    let names: Vec<&str> = events.iter().map(|(e, _)| e.as_str()).collect();
    assert_eq!(names.first(), Some(&"contexts"));
    assert_eq!(names.last(), Some(&"done"), "{names:?}");
    assert_eq!(names.iter().filter(|n| **n == "token").count(), 3);
    assert_eq!(events.last().unwrap().1["generation"]["provider"], "ollama");

    // rewrite: two variants retrieved besides the question, fused, shown in the profile.
    let (status, answer) = post(
        &base,
        "/api/query",
        &json!({ "query": question, "rewrite": { "n": 2 } }),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer["expansion"],
        json!({ "rewrite": { "variants": [
            "How often is a sourdough starter fed?",
            "Feeding schedule of a sourdough starter"
        ] } })
    );
    assert_eq!(answer["sources"][0]["source"], "sourdough.txt", "{answer}");
    let s = steps(&answer);
    let names: Vec<&str> = s.iter().map(|(n, _)| n.as_str()).collect();
    for step in [
        "rewrite",
        "retrieve",
        "retrieve.variant.0",
        "retrieve.variant.2",
        "generate",
    ] {
        assert!(names.contains(&step), "{step} in {names:?}");
    }
    assert!(s.contains(&(
        "retrieve.variant.1".to_string(),
        Some("How often is a sourdough starter fed?".to_string())
    )));

    // multihop: sub-questions per hop, the second hop written from the passages found.
    let (status, answer) = post(
        &base,
        "/api/query",
        &json!({ "query": "Which Hawaiian volcano had a lava lake?", "multihop": { "depth": 2, "fanout": 2 } }),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer["expansion"],
        json!({ "multihop": { "sub_questions": [
            ["Which volcano had a lava lake?", "What is a shield volcano?"],
            ["Where is Kilauea?"]
        ] } })
    );
    assert_eq!(answer["sources"][0]["source"], "kilauea.md", "{answer}");
    let s = steps(&answer);
    let names: Vec<&str> = s.iter().map(|(n, _)| n.as_str()).collect();
    for step in [
        "multihop.hop1",
        "multihop.hop2",
        "retrieve.hop1.0",
        "retrieve.hop1.2",
        "retrieve.hop2.0",
        "multihop",
        "retrieve",
        "generate",
    ] {
        assert!(names.contains(&step), "{step} in {names:?}");
    }
    let answered = double
        .received()
        .iter()
        .filter(|r| system_text(&r.body).starts_with("You answer questions"))
        .count();
    assert_eq!(
        answered, 5,
        "2 answers + 1 stream + rewrite + multihop answers"
    );
}
