//! The embedded backend on the real SmolLM2-135M-Instruct GGUF: grounded prompts and their
//! stats (what the model answers is measured by the answer-quality harness, not asserted here:
//! greedy text differs between CPUs),
//! per-request model state, the token cap, cancellation by dropping the stream, and clear
//! errors for missing or corrupt model files. Tests share one loaded model and run one at a
//! time so the decoded-token counter belongs to the test reading it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)] // test code: panics are failures, output is for eyes

use futures::StreamExt;
use ragmesh_core::{Classify, ErrorCode};
use ragmesh_llm::{
    Context, EmbeddedGenerator, EmbeddedOptions, FinishReason, GenerationEvent, GenerationRequest,
    GenerationStats, Generator, LlmError,
};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn gguf() -> std::path::PathBuf {
    ragmesh_testkit::models_dir().join("SmolLM2-135M-Instruct/SmolLM2-135M-Instruct.Q4_1.gguf")
}

fn generator() -> &'static EmbeddedGenerator {
    static GENERATOR: OnceLock<EmbeddedGenerator> = OnceLock::new();
    GENERATOR.get_or_init(|| {
        let mut options = EmbeddedOptions::new(gguf());
        options.threads = 2;
        EmbeddedGenerator::load(options).unwrap()
    })
}

fn two_topics(query: &str) -> GenerationRequest {
    GenerationRequest {
        query: query.into(),
        contexts: vec![
            Context {
                index: 1,
                source: "festivals.txt".into(),
                text: "The Zorblat festival is held every March in the town of Quenby. Visitors eat blue pancakes \
                       and watch a parade of paper boats."
                    .into(),
            },
            Context {
                index: 2,
                source: "rivers.txt".into(),
                text: "The river Tamsel is 212 kilometres long. It flows from the Orrin mountains to the Grey Sea."
                    .into(),
            },
        ],
        max_new_tokens: Some(64),
        instruction: None,
    }
}

async fn collect(
    generator: &EmbeddedGenerator,
    request: GenerationRequest,
) -> (String, GenerationStats) {
    let mut stream = generator.generate(request);
    let mut text = String::new();
    while let Some(event) = stream.next().await {
        match event.unwrap() {
            GenerationEvent::Token(piece) => {
                assert!(!piece.is_empty());
                text.push_str(&piece);
            }
            GenerationEvent::Done(stats) => {
                assert!(stream.next().await.is_none(), "Done is the last event");
                return (text, stats);
            }
        }
    }
    panic!("stream ended without Done");
}

/// What the code guarantees for a grounded question, whatever text the model picks (greedy
/// decoding differs between CPUs, whose quantised kernels round differently): the prompt holds
/// both contexts in rank order and then the question, the stats describe that prompt and a
/// capped answer, and greedy decoding repeats itself for the same request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_from_the_right_context() {
    let _serial = SERIAL.lock().await;
    let generator = generator();
    assert_eq!(generator.name(), "embedded:SmolLM2-135M-Instruct");
    for question in [
        "In which town is the Zorblat festival held?",
        "How long is the river Tamsel?",
    ] {
        let request = two_topics(question);
        let prompt = generator.packed_prompt(&request).unwrap();
        let first = prompt
            .text
            .find("[1] (festivals.txt) The Zorblat festival is held every March in the town of Quenby.")
            .expect("context 1 in the prompt");
        let second = prompt
            .text
            .find("[2] (rivers.txt) The river Tamsel is 212 kilometres long.")
            .expect("context 2 in the prompt");
        let asked = prompt
            .text
            .find(&format!("Question: {question}\nAnswer:"))
            .expect("the question in the prompt");
        assert!(first < second && second < asked, "{:?}", prompt.text);
        assert_eq!(prompt.contexts_sent, vec![1, 2]);

        let (answer, stats) = collect(generator, request.clone()).await;
        println!("answer: {answer:?}\nstats: {stats:?}");
        assert!(!answer.trim().is_empty(), "an answer: {answer:?}");
        assert_eq!(stats.prompt_tokens, prompt.tokens);
        assert_eq!(stats.contexts_sent, vec![1, 2]);
        assert_eq!(stats.model, "embedded:SmolLM2-135M-Instruct");
        assert!(stats.generated_tokens > 0 && stats.generated_tokens <= 64);
        match stats.finish_reason {
            FinishReason::Length => assert_eq!(stats.generated_tokens, 64),
            FinishReason::Stop => assert!(stats.generated_tokens < 64),
        }
        assert!(stats.ttft_ms >= stats.prompt_ms && stats.prompt_ms > 0.0);
        assert!(stats.decode_ms >= 0.0);

        // Greedy decoding: the same request in the same process gives the same answer.
        let (again, again_stats) = collect(generator, request).await;
        assert_eq!(again, answer, "greedy decoding is deterministic");
        assert_eq!(again_stats.generated_tokens, stats.generated_tokens);
        assert_eq!(again_stats.finish_reason, stats.finish_reason);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_each_get_their_own_state() {
    let _serial = SERIAL.lock().await;
    let generator = generator();
    let request = || GenerationRequest {
        max_new_tokens: Some(20),
        ..two_topics("What do visitors eat at the festival?")
    };
    let (alone, alone_stats) = collect(generator, request()).await;
    let ((a, a_stats), (b, b_stats)) =
        tokio::join!(collect(generator, request()), collect(generator, request()));
    assert!(!alone.is_empty());
    assert_eq!(a, alone);
    assert_eq!(b, alone);
    assert_eq!(a_stats.generated_tokens, alone_stats.generated_tokens);
    assert_eq!(b_stats.generated_tokens, alone_stats.generated_tokens);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stops_at_the_token_cap_with_reason_length() {
    let _serial = SERIAL.lock().await;
    let request = GenerationRequest {
        max_new_tokens: Some(5),
        ..two_topics("Describe the Zorblat festival in detail, with everything the contexts say.")
    };
    let (text, stats) = collect(generator(), request).await;
    assert_eq!(stats.finish_reason, FinishReason::Length);
    assert_eq!(stats.generated_tokens, 5);
    assert!(!text.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_stream_stops_decoding_within_one_token() {
    let _serial = SERIAL.lock().await;
    let generator = generator();
    let request = GenerationRequest {
        max_new_tokens: Some(300),
        ..two_topics("Write a long story about the Zorblat festival and the river Tamsel.")
    };
    let before = generator.decoded_tokens();
    let mut stream = generator.generate(request);
    let mut received = 0;
    while received < 3 {
        match stream.next().await {
            Some(Ok(GenerationEvent::Token(_))) => received += 1,
            other => panic!("expected tokens, got {other:?}"),
        }
    }
    let at_drop = generator.decoded_tokens();
    drop(stream);
    // Wait (not a timing assertion) until the decoding job has ended.
    let deadline = Instant::now() + Duration::from_secs(120);
    while generator.active_generations() > 0 {
        assert!(Instant::now() < deadline, "decoding did not stop");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let after = generator.decoded_tokens();
    println!(
        "decoded before drop: {}, after: {}",
        at_drop - before,
        after - before
    );
    assert!(
        at_drop - before < 300,
        "stream was dropped well before the cap"
    );
    assert!(
        after <= at_drop + 1,
        "at most the token in progress is finished: {at_drop} -> {after}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_requests_are_rejected_in_the_stream() {
    let _serial = SERIAL.lock().await;
    let request = GenerationRequest {
        query: "   ".into(),
        ..two_topics("")
    };
    let events: Vec<_> = generator().generate(request).collect().await;
    assert_eq!(events.len(), 1);
    let err = events.into_iter().next().unwrap().unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidArgument);
}

#[test]
fn missing_and_corrupt_model_files_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("absent.gguf");
    let err = EmbeddedGenerator::load(EmbeddedOptions::new(&missing)).unwrap_err();
    assert!(matches!(err, LlmError::ModelFile { .. }), "{err}");
    assert!(err.to_string().contains("absent.gguf"));
    assert_eq!(err.code(), ErrorCode::Unavailable);

    let corrupt = dir.path().join("corrupt.gguf");
    std::fs::write(&corrupt, b"GGUF\x03\x00\x00\x00 not really a model").unwrap();
    let err = EmbeddedGenerator::load(EmbeddedOptions::new(&corrupt)).unwrap_err();
    assert!(matches!(err, LlmError::InvalidModel { .. }), "{err}");

    // A real GGUF cut in half: header fine, tensor data missing.
    let bytes = std::fs::read(gguf()).unwrap();
    let truncated = dir.path().join("truncated.gguf");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let err = EmbeddedGenerator::load(EmbeddedOptions::new(&truncated)).unwrap_err();
    assert!(matches!(err, LlmError::InvalidModel { .. }), "{err}");
}

#[test]
fn smollm2_prompts_are_written_by_its_own_gguf_chat_template() {
    let generator = generator();
    assert!(
        generator.uses_gguf_template(),
        "SmolLM2's template is interpreted"
    );
    assert_eq!(generator.template(), ragmesh_llm::ChatTemplate::ChatMl);
    // The interpreted template writes exactly the ChatML the model was tuned on.
    let packed = generator.packed_prompt(&two_topics("Where?")).unwrap();
    let expected =
        ragmesh_llm::ChatTemplate::ChatMl.render(&packed.turns.system, &packed.turns.user, "");
    assert_eq!(packed.text, expected);
}
