//! Unit tests of the answer stream: event order, grounded sentences, extractive streams and
//! cancellation, on scripted generations (no model).

#![allow(clippy::unwrap_used)]

use super::*;
use crate::query::answer::passages::tests::sources;
use crate::query::answer_stream::tests::{done, stream_of, token};
use crate::request_context::RequestContext;
use futures::StreamExt;

fn ctx() -> RequestContext {
    RequestContext {
        trace_id: "0123456789abcdef0123456789abcdef".into(),
        span_id: "0123456789abcdef".into(),
        request_id: "r".into(),
    }
}

fn found() -> Found {
    Found {
        sources: sources(),
        reranker: None,
        expansion: None,
    }
}

/// The passages of the test sources for `question` (term matching only).
async fn selection(question: &str, mode: AnswerMode) -> Selection {
    crate::query::answer::select(
        &Embedder::none(),
        question,
        Vec::new(),
        &sources(),
        &AnswerSettings::default(),
        mode,
    )
    .await
    .unwrap()
}

async fn all_events(events: AnswerEvents) -> Vec<SseEvent> {
    let mut events = events;
    let mut out = Vec::new();
    while let Some(e) = events.next_event().await {
        out.push(e);
    }
    out
}

const QUESTION: &str = "How often should a sourdough starter be fed at room temperature?";

#[tokio::test]
async fn contexts_tokens_grounded_sentences_then_done() {
    let generation = stream_of(vec![
        token("Bakers feed a starter every twelve hours"),
        token(" at room temperature [1]."),
        token(" Paris is the capital [7]."),
        done(),
    ]);
    let answer = AnswerKind::Generate(generation, selection(QUESTION, AnswerMode::Generate).await);
    let events = AnswerEvents::new(
        found(),
        answer,
        Profile::start(),
        ctx(),
        CancellationToken::new(),
    );
    let events = all_events(events).await;
    let names: Vec<&str> = events.iter().map(SseEvent::name).collect();
    assert_eq!(
        names,
        [
            "contexts", "token", "token", "token", "sentence", "sentence", "done"
        ]
    );
    let SseEvent::Sentence { index, sentence } = &events[4] else {
        panic!()
    };
    assert_eq!(*index, 0);
    assert_eq!(
        sentence.citations,
        [2],
        "the wrong [1] is corrected: {sentence:?}"
    );
    let SseEvent::Done(done) = &events[6] else {
        panic!()
    };
    assert_eq!(
        done.answer,
        "Bakers feed a starter every twelve hours at room temperature [2]. Paris is the capital."
    );
    assert_eq!(done.answer_mode, "generate");
    assert_eq!(done.sentences.len(), 2);
    assert!(done.sentences[0].supported && !done.sentences[1].supported);
    assert_eq!(
        (
            done.grounding.citations_corrected,
            done.grounding.citations_removed
        ),
        (1, 1)
    );
    assert!(
        done.passages.iter().any(|p| p.index == 2),
        "{:?}",
        done.passages
    );
    assert_eq!(done.sources.len(), 3);
    assert_eq!(done.trace_id, ctx().trace_id);
    let steps: Vec<&str> = done.profile.steps.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(steps, ["grounding", "generate.first_token", "generate"]);
    assert_eq!(
        done.generation.as_ref().map(|g| g.finish_reason.as_str()),
        Some("stop")
    );
}

#[tokio::test]
async fn an_extractive_stream_needs_no_model() {
    let answer = AnswerKind::Extractive(selection(QUESTION, AnswerMode::Extractive).await);
    let events = AnswerEvents::new(
        found(),
        answer,
        Profile::start(),
        ctx(),
        CancellationToken::new(),
    );
    let events = all_events(events).await;
    let names: Vec<&str> = events.iter().map(SseEvent::name).collect();
    assert_eq!(names.first(), Some(&"contexts"));
    assert_eq!(names[1], "token");
    assert_eq!(names.last(), Some(&"done"));
    assert!(
        names[2..names.len() - 1].iter().all(|n| *n == "sentence"),
        "{names:?}"
    );
    let SseEvent::Done(done) = events.last().unwrap() else {
        panic!()
    };
    assert_eq!(done.answer_mode, "extractive");
    assert!(done.generation.is_none());
    assert!(
        done.answer
            .starts_with("Bakers feed a starter every twelve hours at room temperature [2]."),
        "{}",
        done.answer
    );
    assert!(done.sentences.iter().all(|s| s.supported));
}

#[tokio::test]
async fn a_finished_answer_is_recorded_in_the_profile_window() {
    let window = Arc::new(ProfileWindow::default());
    let generation = stream_of(vec![token("Yes [1]"), done()]);
    let answer = AnswerKind::Generate(generation, selection(QUESTION, AnswerMode::Generate).await);
    let events = AnswerEvents::new(
        found(),
        answer,
        Profile::start(),
        ctx(),
        CancellationToken::new(),
    )
    .recording_into(Arc::clone(&window));
    all_events(events).await;
    let stats = window.stats();
    assert_eq!(stats.queries, 1);
    assert_eq!(stats.dominant_step.as_deref(), Some("generate"));
}

#[tokio::test]
async fn a_failure_mid_stream_ends_with_an_error_event() {
    let generation = stream_of(vec![
        token("Half"),
        Err(tonic::Status::unavailable("connection reset")),
    ]);
    let answer = AnswerKind::Generate(generation, selection(QUESTION, AnswerMode::Generate).await);
    let events = AnswerEvents::new(
        found(),
        answer,
        Profile::start(),
        ctx(),
        CancellationToken::new(),
    );
    let events = all_events(events).await;
    assert_eq!(
        events.last(),
        Some(&SseEvent::Error {
            code: "unavailable".into(),
            message: "generation service unavailable: connection reset".into()
        })
    );
    assert_eq!(events.len(), 3);
}

#[tokio::test]
async fn nothing_found_answers_honestly_without_a_model() {
    let found = Found {
        sources: vec![],
        reranker: None,
        expansion: None,
    };
    let events = AnswerEvents::new(
        found,
        AnswerKind::NothingFound(AnswerMode::Generate),
        Profile::start(),
        ctx(),
        CancellationToken::new(),
    );
    let bytes: Vec<Bytes> = events
        .into_body()
        .map(|b| b.unwrap_or_default())
        .collect()
        .await;
    let wire: String = bytes
        .iter()
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .collect();
    assert!(
        wire.starts_with("event: contexts\ndata: {\"sources\":[]}\n\nevent: token\n"),
        "{wire}"
    );
    assert!(wire.contains("event: done\n"), "{wire}");
    assert!(!wire.contains("event: sentence\n"), "{wire}");
    assert!(wire.contains(NOTHING_FOUND_ANSWER), "{wire}");
    assert!(wire.ends_with("\n\n"));
}

#[tokio::test]
async fn shutdown_ends_an_open_stream_with_an_error() {
    let silent = AnswerStream::new(
        futures::stream::pending().boxed(),
        std::time::Instant::now(),
        Duration::from_secs(600),
    );
    let shutdown = CancellationToken::new();
    let answer = AnswerKind::Generate(silent, selection(QUESTION, AnswerMode::Generate).await);
    let mut events = AnswerEvents::new(found(), answer, Profile::start(), ctx(), shutdown.clone());
    assert_eq!(
        events.next_event().await.map(|e| e.name()),
        Some("contexts")
    );
    shutdown.cancel();
    let last = events.next_event().await;
    assert!(
        matches!(&last, Some(SseEvent::Error { code, .. }) if code == "unavailable"),
        "{last:?}"
    );
    assert!(events.next_event().await.is_none());
}
