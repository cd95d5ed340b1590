//! The generation service end to end over real gRPC: `run` on an ephemeral port with the real
//! model, a tonic client streaming an answer, cancellation mid-stream, bad requests, and a
//! missing model file. One test function so the process-wide metrics it reads are its own.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)] // test code: panics are failures, output is for eyes

use futures::StreamExt;
use ragmesh_config::Settings;
use ragmesh_proto::generation_client::GenerationClient;
use ragmesh_proto::{Context, GenerateRequest, generate_chunk};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

fn settings() -> Settings {
    let mut settings = Settings::default();
    settings.models.dir = ragmesh_testkit::models_dir();
    settings.generation.threads = 2;
    settings
}

fn metric(name: &str) -> f64 {
    ragmesh_telemetry::render_metrics()
        .lines()
        .find_map(|line| {
            line.strip_prefix(name)
                .and_then(|rest| rest.strip_prefix(' '))
                .map(str::to_string)
        })
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

fn question(query: &str, max_new_tokens: u32) -> GenerateRequest {
    GenerateRequest {
        query: query.into(),
        contexts: vec![
            Context {
                index: 1,
                source: "festivals.txt".into(),
                text: "The Zorblat festival is held every March in the town of Quenby. Visitors eat blue pancakes."
                    .into(),
            },
            Context {
                index: 2,
                source: "rivers.txt".into(),
                text: "The river Tamsel is 212 kilometres long. It flows from the Orrin mountains to the Grey Sea."
                    .into(),
            },
        ],
        max_new_tokens,
        provider: String::new(),
        instruction: String::new(),
    }
}

async fn wait_serving(url: &str) {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        if let Ok(channel) = tonic::transport::Endpoint::from_shared(url.to_string())
            .unwrap()
            .connect()
            .await
        {
            let mut health = HealthClient::new(channel);
            let request = HealthCheckRequest {
                service: "ragmesh.v1.Generation".into(),
            };
            if let Ok(reply) = health.check(request).await
                && reply.into_inner().status == ServingStatus::Serving as i32
            {
                return;
            }
        }
        assert!(
            Instant::now() < deadline,
            "generation service never became SERVING"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The whole answer to `request`: the text of its tokens, in order, and the one Done after them.
async fn collect_answer(
    client: &mut GenerationClient<tonic::transport::Channel>,
    request: GenerateRequest,
) -> (String, ragmesh_proto::Done) {
    let mut stream = client.generate(request).await.unwrap().into_inner();
    let mut text = String::new();
    let mut done = None;
    while let Some(chunk) = stream.next().await {
        match chunk.unwrap().kind.unwrap() {
            generate_chunk::Kind::Token(t) => {
                assert!(done.is_none(), "no token after Done");
                text.push_str(&t.text);
            }
            generate_chunk::Kind::Done(d) => {
                assert!(done.is_none(), "one Done");
                done = Some(d);
            }
        }
    }
    (text, done.expect("a Done message"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generate_streams_tokens_then_done_and_stops_when_cancelled() {
    ragmesh_telemetry::metrics_handle().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(ragmesh_generation::run(
        settings(),
        listener,
        shutdown.clone(),
    ));
    wait_serving(&url).await;
    let mut client = GenerationClient::connect(url.clone()).await.unwrap();

    // A grounded answer: tokens, then exactly one Done with sane stats. Which words the model
    // picks is not asserted (greedy text differs between CPUs); that it streams, is capped,
    // names its contexts and repeats itself for the same request is.
    let (answer, done) = collect_answer(
        &mut client,
        question("In which town is the Zorblat festival held?", 48),
    )
    .await;
    println!("answer: {answer:?}\ndone: {done:?}");
    assert!(!answer.trim().is_empty(), "{answer:?}");
    assert!(done.generated_tokens > 0 && done.generated_tokens <= 48);
    match done.finish_reason.as_str() {
        "length" => assert_eq!(done.generated_tokens, 48),
        _ => assert!(done.generated_tokens < 48),
    }
    assert!(done.prompt_tokens > 50);
    assert!(done.time_to_first_token_ms >= done.prompt_ms && done.prompt_ms > 0.0);
    assert!(["stop", "length"].contains(&done.finish_reason.as_str()));
    assert_eq!(done.model, "embedded:SmolLM2-135M-Instruct");
    // Who answered, as the gateway and a cache key see it from configuration alone.
    let identity = settings().generator_identity(None);
    assert_eq!(done.model, identity.model);
    assert_eq!(done.provider, "embedded");
    assert_eq!(done.prompt_version, identity.prompt_version);
    assert_eq!(done.contexts_sent, vec![1, 2]);
    assert_eq!(metric("ragmesh_generation_streams_active"), 0.0);
    // Greedy decoding: the same request in the same process gives the same answer.
    let (again, again_done) = collect_answer(
        &mut client,
        question("In which town is the Zorblat festival held?", 48),
    )
    .await;
    assert_eq!(again, answer, "greedy decoding is deterministic");
    assert_eq!(again_done.generated_tokens, done.generated_tokens);
    assert_eq!(again_done.prompt_tokens, done.prompt_tokens);

    // Cancel mid-stream: decoding stops (the decoded-token counter stops growing).
    let before = metric("ragmesh_generation_tokens_total");
    let mut stream = client
        .generate(question(
            "Write a very long story about the Zorblat festival and the river Tamsel.",
            400,
        ))
        .await
        .unwrap()
        .into_inner();
    let mut received = 0;
    while received < 3 {
        match stream.next().await.unwrap().unwrap().kind.unwrap() {
            generate_chunk::Kind::Token(_) => received += 1,
            generate_chunk::Kind::Done(d) => panic!("ended before cancel: {d:?}"),
        }
    }
    drop(stream);
    // Wait (no timing assertion) until the decoding job has ended, then count its tokens.
    let deadline = Instant::now() + Duration::from_secs(120);
    while metric("ragmesh_generation_decodes_active") > 0.0 {
        assert!(
            Instant::now() < deadline,
            "decoding did not stop after cancel"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let decoded = metric("ragmesh_generation_tokens_total") - before;
    println!("decoded for the cancelled call: {decoded}");
    // 3 received + what was in flight (channel of 16, one token in progress), far below 400.
    assert!(
        decoded <= 3.0 + 16.0 + 1.0,
        "decoding stopped after cancel: {decoded} tokens"
    );
    assert_eq!(metric("ragmesh_generation_streams_active"), 0.0);

    // Bad requests are InvalidArgument before any token.
    let status = client.generate(question("  ", 8)).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    let mut bad = question("q", 8);
    bad.contexts[1].index = 1;
    let status = client.generate(bad).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert!(
        status.message().contains("repeated"),
        "{}",
        status.message()
    );

    shutdown.cancel();
    server.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_missing_model_file_is_a_startup_error() {
    let mut settings = settings();
    settings.generation.gguf_path = Some("/nonexistent/model.gguf".into());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let err = ragmesh_generation::run(settings, listener, CancellationToken::new())
        .await
        .unwrap_err();
    let message = err.to_string();
    assert!(message.contains("/nonexistent/model.gguf"), "{message}");
    assert_eq!(
        ragmesh_core::Classify::code(&err),
        ragmesh_core::ErrorCode::Unavailable
    );
}
