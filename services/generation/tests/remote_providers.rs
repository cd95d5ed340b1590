//! The `ollama` and `openai` providers through the real generation gRPC service (`run` on a
//! loopback port, a tonic client). Ollama and OpenAI cannot run here, so each test talks to
//! `ragmesh_testkit::ChatDouble`, a protocol double: a real HTTP server speaking Ollama's NDJSON
//! `/api/chat` and OpenAI's SSE `/v1/chat/completions` wire formats, including HTTP errors,
//! errors mid-stream, streams cut short and a slow first token. The embedded model is turned
//! off so these tests load no weights.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)] // test code: panics are failures, output is for eyes

use futures::StreamExt;
use ragmesh_config::{PromptSettings, Settings};
use ragmesh_proto::generation_client::GenerationClient;
use ragmesh_proto::{Context, Done, GenerateRequest, generate_chunk};
use ragmesh_testkit::{ChatDouble, Ending, Protocol, Reply, system_text, user_text};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

/// A generation service (remote providers only) configured by `configure`.
struct Service {
    client: GenerationClient<Channel>,
    shutdown: CancellationToken,
}

impl Drop for Service {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

async fn serve(configure: impl FnOnce(&mut Settings)) -> Service {
    let mut settings = Settings::default();
    settings.generation.embedded_enabled = false;
    configure(&mut settings);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let shutdown = CancellationToken::new();
    tokio::spawn(ragmesh_generation::run(
        settings,
        listener,
        shutdown.clone(),
    ));
    let client = GenerationClient::connect(url).await.unwrap();
    Service { client, shutdown }
}

fn ollama(base_url: &str) -> impl FnOnce(&mut Settings) {
    let base_url = base_url.to_string();
    move |s| {
        s.generation.provider = "ollama".into();
        s.generation.ollama.base_url = base_url;
        s.generation.ollama.model = "llama3.2".into();
        s.generation.ollama.first_token_timeout_ms = 1_000;
    }
}

fn openai(base_url: &str) -> impl FnOnce(&mut Settings) {
    let base_url = base_url.to_string();
    move |s| {
        s.generation.provider = "openai".into();
        s.generation.openai.base_url = base_url;
        s.generation.openai.model = "gpt-4o-mini".into();
        s.generation.openai.api_key = Some("sk-test".into());
        s.generation.openai.first_token_timeout_ms = 10_000;
    }
}

fn question(query: &str) -> GenerateRequest {
    GenerateRequest {
        query: query.into(),
        contexts: vec![
            Context {
                index: 1,
                source: "festivals.txt".into(),
                text: "The Zorblat festival is held every March in the town of Quenby.".into(),
            },
            Context {
                index: 2,
                source: "rivers.txt".into(),
                text: "The river Tamsel is 212 kilometres long.".into(),
            },
        ],
        max_new_tokens: 32,
        provider: String::new(),
        instruction: String::new(),
    }
}

/// Everything a call produced: the text, the Done (if any), and the final error (if any).
#[derive(Debug)]
struct Outcome {
    text: String,
    done: Option<Done>,
    error: Option<tonic::Status>,
}

async fn call(service: &mut Service, request: GenerateRequest) -> Outcome {
    let mut outcome = Outcome {
        text: String::new(),
        done: None,
        error: None,
    };
    let mut stream = match service.client.generate(request).await {
        Ok(response) => response.into_inner(),
        Err(status) => {
            outcome.error = Some(status);
            return outcome;
        }
    };
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(chunk) => match chunk.kind.unwrap() {
                generate_chunk::Kind::Token(t) => outcome.text.push_str(&t.text),
                generate_chunk::Kind::Done(d) => outcome.done = Some(d),
            },
            Err(status) => {
                outcome.error = Some(status);
                break;
            }
        }
    }
    outcome
}

fn failed(outcome: &Outcome) -> (tonic::Code, String) {
    let status = outcome
        .error
        .as_ref()
        .unwrap_or_else(|| panic!("no error: {outcome:?}"));
    (status.code(), status.message().to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ollama_streams_ndjson_pieces_then_done_with_its_counts_and_the_configured_prompt() {
    let double = ChatDouble::start(Protocol::Ollama, |_| {
        Reply::text(&["Quenby", " is the", " town [1]."])
    })
    .await;
    let prompt = PromptSettings {
        answer_language: "French".into(),
        context_format: "Context [{index}] from {source}: {text}".into(),
        ..PromptSettings::default()
    };
    let version = prompt.version();
    let mut service = serve(|s| {
        ollama(&double.base_url)(s);
        s.generation.prompt = prompt;
    })
    .await;

    let outcome = call(
        &mut service,
        question("In which town is the Zorblat festival held?"),
    )
    .await;
    assert!(outcome.error.is_none(), "{outcome:?}");
    assert_eq!(outcome.text, "Quenby is the town [1].");
    let done = outcome.done.unwrap();
    assert_eq!(done.model, "ollama:llama3.2");
    assert_eq!(done.provider, "ollama");
    assert_eq!(done.prompt_version, version);
    assert_ne!(done.prompt_version, PromptSettings::default().version());
    assert_eq!((done.prompt_tokens, done.generated_tokens), (321, 3));
    assert_eq!(done.finish_reason, "stop");
    assert_eq!(done.contexts_sent, vec![1, 2]);
    assert!(done.prompt_ms > 0.0, "prompt_eval_duration is reported");

    let received = double.received();
    assert_eq!(received.len(), 1);
    let body = &received[0].body;
    assert_eq!(body["model"], "llama3.2");
    assert_eq!(body["stream"], true);
    assert_eq!(body["options"]["num_predict"], 32);
    assert!(system_text(body).ends_with("Answer in French."), "{body}");
    let user = user_text(body);
    assert!(
        user.contains("Context [1] from festivals.txt: The Zorblat"),
        "{user}"
    );
    assert!(user.contains("Context [2] from rivers.txt:"), "{user}");
    assert!(
        user.ends_with("Question: In which town is the Zorblat festival held?\nAnswer:"),
        "{user}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ollama_failures_are_typed_errors_naming_the_backend() {
    let double = ChatDouble::start(Protocol::Ollama, |body| {
        let user = user_text(body);
        let stream = |pieces: &[&str], first_delay, ending| Reply::Stream {
            pieces: pieces.iter().map(|p| p.to_string()).collect(),
            first_delay,
            ending,
        };
        if user.contains("missing model") {
            Reply::Status {
                status: 404,
                message: "model \"llama3.2\" not found, try pulling it first".into(),
            }
        } else if user.contains("mid-stream") {
            stream(
                &["Half", " an"],
                Duration::ZERO,
                Ending::Error("CUDA out of memory".into()),
            )
        } else if user.contains("cut short") {
            stream(&["Half"], Duration::ZERO, Ending::Cut)
        } else {
            stream(&["late"], Duration::from_secs(5), Ending::Done)
        }
    })
    .await;
    let mut service = serve(ollama(&double.base_url)).await;

    let outcome = call(&mut service, question("missing model?")).await;
    assert_eq!(
        failed(&outcome),
        (
            tonic::Code::Unavailable,
            "ollama backend answered HTTP 404: model \"llama3.2\" not found, try pulling it first"
                .to_string()
        )
    );

    let outcome = call(&mut service, question("error mid-stream?")).await;
    assert_eq!(
        outcome.text, "Half an",
        "pieces before the error are delivered"
    );
    assert!(outcome.done.is_none());
    assert_eq!(
        failed(&outcome),
        (
            tonic::Code::Unavailable,
            "ollama backend failed mid-stream: CUDA out of memory".to_string()
        )
    );

    let outcome = call(&mut service, question("cut short?")).await;
    assert!(outcome.done.is_none(), "a cut stream is not a short answer");
    let (code, message) = failed(&outcome);
    assert_eq!(code, tonic::Code::Unavailable);
    assert!(
        message.contains("ended the answer stream before"),
        "{message}"
    );

    // Slow first token: 5 s against a 1 s first-token limit.
    let outcome = call(&mut service, question("slow?")).await;
    assert_eq!(
        failed(&outcome),
        (
            tonic::Code::DeadlineExceeded,
            "ollama backend sent no token within 1000 ms".to_string()
        )
    );

    // Configured but unreachable: nothing listens on the port.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let mut unreachable = serve(ollama(&dead)).await;
    let outcome = call(&mut unreachable, question("anyone there?")).await;
    let (code, message) = failed(&outcome);
    assert_eq!(code, tonic::Code::Unavailable);
    assert!(
        message.starts_with("ollama backend is unreachable at"),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openai_streams_sse_chunks_with_the_api_key_and_a_slow_first_token() {
    let double = ChatDouble::start(Protocol::OpenAi, |_| Reply::Stream {
        pieces: vec!["The river".into(), " is 212 km [2].".into()],
        first_delay: Duration::from_millis(400),
        ending: Ending::Done,
    })
    .await;
    let mut service = serve(openai(&double.base_url)).await;

    let outcome = call(&mut service, question("How long is the Tamsel?")).await;
    assert!(outcome.error.is_none(), "{outcome:?}");
    assert_eq!(outcome.text, "The river is 212 km [2].");
    let done = outcome.done.unwrap();
    assert_eq!(
        (done.model.as_str(), done.provider.as_str()),
        ("openai:gpt-4o-mini", "openai")
    );
    assert_eq!(
        (done.prompt_tokens, done.generated_tokens),
        (321, 2),
        "usage chunk read"
    );
    assert_eq!(done.finish_reason, "stop");
    assert!(
        done.time_to_first_token_ms >= 400.0,
        "the first token came after the double's delay: {}",
        done.time_to_first_token_ms
    );

    let received = double.received();
    assert_eq!(received[0].authorization.as_deref(), Some("Bearer sk-test"));
    let body = &received[0].body;
    assert_eq!(
        (body["model"].as_str(), body["stream"].as_bool()),
        (Some("gpt-4o-mini"), Some(true))
    );
    assert_eq!(body["max_tokens"], 32);
    assert!(
        user_text(body).contains("[2] (rivers.txt) The river Tamsel"),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openai_http_errors_and_mid_stream_errors_keep_their_kind() {
    let double = ChatDouble::start(Protocol::OpenAi, |body| {
        let user = user_text(body);
        let status = |status: u16, message: &str| Reply::Status {
            status,
            message: message.into(),
        };
        if user.contains("bad key") {
            status(401, "Incorrect API key provided")
        } else if user.contains("too many") {
            status(429, "Rate limit reached for requests")
        } else if user.contains("server error") {
            status(500, "The server had an error while processing your request")
        } else {
            Reply::Stream {
                pieces: vec!["Par".into(), "tial".into()],
                first_delay: Duration::ZERO,
                ending: Ending::Error("The model is overloaded".into()),
            }
        }
    })
    .await;
    let mut service = serve(openai(&double.base_url)).await;

    let cases = [
        (
            "bad key?",
            tonic::Code::Unavailable,
            "openai backend rejected the credentials (HTTP 401): Incorrect API key provided (invalid_request_error, invalid_api_key)",
        ),
        (
            "too many?",
            tonic::Code::ResourceExhausted,
            "openai backend is rate limited (HTTP 429): Rate limit reached for requests (rate_limit_error)",
        ),
        (
            "server error?",
            tonic::Code::Unavailable,
            "openai backend answered HTTP 500: The server had an error while processing your request (server_error)",
        ),
    ];
    for (query, code, message) in cases {
        let outcome = call(&mut service, question(query)).await;
        assert_eq!(failed(&outcome), (code, message.to_string()), "{query}");
        assert!(outcome.text.is_empty() && outcome.done.is_none());
    }

    let outcome = call(&mut service, question("mid-stream?")).await;
    assert_eq!(outcome.text, "Partial");
    assert_eq!(
        failed(&outcome),
        (
            tonic::Code::Unavailable,
            "openai backend failed mid-stream: The model is overloaded (server_error)".to_string()
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_call_closes_the_remote_stream() {
    let double = ChatDouble::start(Protocol::Ollama, |_| Reply::Stream {
        pieces: vec!["a".into()],
        first_delay: Duration::ZERO,
        ending: Ending::Endless,
    })
    .await;
    let mut service = serve(ollama(&double.base_url)).await;
    let mut stream = service
        .client
        .generate(question("never ending?"))
        .await
        .unwrap()
        .into_inner();
    for _ in 0..3 {
        let chunk = stream.next().await.unwrap().unwrap();
        assert!(matches!(chunk.kind, Some(generate_chunk::Kind::Token(_))));
    }
    assert_eq!(double.abandoned(), 0);
    drop(stream);
    // Wait (no timing assertion) until the double sees its stream abandoned.
    let deadline = Instant::now() + Duration::from_secs(30);
    while double.abandoned() == 0 {
        assert!(
            Instant::now() < deadline,
            "the remote stream was never closed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(double.abandoned(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn providers_are_chosen_per_request_and_never_substituted() {
    let double = ChatDouble::start(Protocol::Ollama, |_| Reply::text(&["from ollama"])).await;
    let mut service = serve(ollama(&double.base_url)).await;
    let ask = |provider: &str| GenerateRequest {
        provider: provider.into(),
        ..question("q?")
    };

    let outcome = call(&mut service, ask("ollama")).await;
    assert_eq!(outcome.text, "from ollama");

    let outcome = call(&mut service, ask("gpt")).await;
    let (code, message) = failed(&outcome);
    assert_eq!(code, tonic::Code::FailedPrecondition, "{message}");
    assert!(
        message.contains("unknown generation provider \"gpt\""),
        "{message}"
    );

    let outcome = call(&mut service, ask("openai")).await;
    assert_eq!(
        failed(&outcome),
        (
            tonic::Code::Unavailable,
            "the openai backend is not configured (set generation.openai.model)".to_string()
        )
    );
    let outcome = call(&mut service, ask("embedded")).await;
    assert_eq!(failed(&outcome).0, tonic::Code::Unavailable);
    assert_eq!(
        double.received().len(),
        1,
        "no other request reached ollama"
    );
}
