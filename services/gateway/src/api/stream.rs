//! `POST /api/query/stream`: the same pipeline as `/api/query`, answered as Server-Sent
//! Events — one `contexts` event, `token` events as the model writes, then `done` (cleaned
//! answer, sources, profile, trace id) or `error`. Failures before the first event (bad input,
//! retrieval down, generation unreachable) are ordinary JSON error responses; once the stream
//! has started, every way it can end sends a final event, so it is never left unterminated.
//! The generation call lives inside the response body: a client that disconnects drops it,
//! which cancels the call and stops the model.

use crate::answer_cache::{self, Miss};
use crate::api::extract::ApiJson;
use crate::api::sse::{self, SseEvent};
use crate::error::GatewayError;
use crate::query::answer_stream::{AnswerStream, GenerationEvent};
use crate::query::pipeline::{Found, NOTHING_FOUND_ANSWER, complete};
use crate::query::plan::{QueryRequest, query_plan};
use crate::query::profile::Profile;
use crate::query::profile_window::ProfileWindow;
use crate::request_context::RequestContext;
use crate::state::AppState;
use axum::extract::{Extension, State};
use axum::response::Response;
use bytes::Bytes;
use futures::Stream;
use ragmesh_core::Classify;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// A comment line is sent when the model has been silent this long (long prompts).
const KEEP_ALIVE: Duration = Duration::from_secs(15);

pub async fn answer_stream(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    ApiJson(request): ApiJson<QueryRequest>,
) -> Result<Response, GatewayError> {
    let plan = query_plan(request, &state.settings, &state.generators)?;
    let mut profile = Profile::start();
    let miss = match answer_cache::lookup(&state, &plan, &ctx, &mut profile).await? {
        answer_cache::Lookup::Hit(replay) => {
            let events = replay
                .events()
                .map_err(|e| GatewayError::Encode(format!("cached answer does not replay: {e}")))?;
            let mut response = sse::response(events);
            response.headers_mut().insert(
                crate::answer_cache::cache_status::CACHE_STATUS,
                crate::answer_cache::cache_status::header_value(Some(replay.cache())),
            );
            return Ok(response);
        }
        answer_cache::Lookup::Miss(miss) => miss,
    };
    let found = state
        .pipeline
        .search_with_vector(&plan, miss.vector.clone(), &ctx, &mut profile)
        .await?;
    let generation = if found.sources.is_empty() {
        None
    } else {
        Some(
            state
                .pipeline
                .start_generation(&plan, &found.sources, &ctx)
                .await?,
        )
    };
    let cache_status = miss.cache_status();
    let events = AnswerEvents::new(found, generation, profile, ctx, state.shutdown.clone())
        .recording_into(Arc::clone(state.pipeline.profile_window()))
        .storing_into(state.cache.clone(), miss);
    let mut response = sse::response(events.into_body());
    response.headers_mut().insert(
        crate::answer_cache::cache_status::CACHE_STATUS,
        cache_status,
    );
    Ok(response)
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Phase {
    Contexts,
    Tokens,
    Finished,
}

/// The event sequence of one streamed answer.
pub struct AnswerEvents {
    phase: Phase,
    found: Found,
    /// None when nothing was found: one token with the fixed answer, then `done`.
    generation: Option<AnswerStream>,
    raw_answer: String,
    profile: Option<Profile>,
    ctx: RequestContext,
    shutdown: CancellationToken,
    /// The model's tokens as sent, and where to store the answer once it is complete.
    tokens: Vec<String>,
    store: Option<(ragmesh_cache::SemanticCache, Miss)>,
    /// Where the finished answer's profile goes (`/api/profile/stats`).
    profiles: Option<Arc<ProfileWindow>>,
}

impl AnswerEvents {
    /// Stores the answer in `cache` when the stream completes successfully (before `done`
    /// is sent, so the next request on any gateway can hit it).
    pub fn storing_into(mut self, cache: ragmesh_cache::SemanticCache, miss: Miss) -> Self {
        self.store = Some((cache, miss));
        self
    }

    /// Records the finished answer's profile in `window`.
    pub fn recording_into(mut self, window: Arc<ProfileWindow>) -> Self {
        self.profiles = Some(window);
        self
    }

    pub fn new(
        found: Found,
        generation: Option<AnswerStream>,
        profile: Profile,
        ctx: RequestContext,
        shutdown: CancellationToken,
    ) -> AnswerEvents {
        AnswerEvents {
            phase: Phase::Contexts,
            found,
            generation,
            raw_answer: String::new(),
            profile: Some(profile),
            ctx,
            shutdown,
            tokens: Vec::new(),
            store: None,
            profiles: None,
        }
    }

    /// The next event; None once `done` or `error` has been sent.
    pub async fn next_event(&mut self) -> Option<SseEvent> {
        match self.phase {
            Phase::Contexts => {
                self.phase = Phase::Tokens;
                Some(SseEvent::Contexts {
                    sources: self.found.sources.clone(),
                })
            }
            Phase::Tokens => Some(self.next_answer_event().await),
            Phase::Finished => None,
        }
    }

    async fn next_answer_event(&mut self) -> SseEvent {
        let Some(generation) = self.generation.as_mut() else {
            if self.raw_answer.is_empty() {
                self.raw_answer = NOTHING_FOUND_ANSWER.to_string();
                return SseEvent::Token {
                    text: NOTHING_FOUND_ANSWER.to_string(),
                };
            }
            return self.finish_and_store(Ok(None)).await;
        };
        let event = tokio::select! {
            _ = self.shutdown.cancelled() => Some(Err(GatewayError::ShuttingDown)),
            _ = tokio::time::sleep(KEEP_ALIVE) => return SseEvent::KeepAlive,
            event = generation.next_event() => event,
        };
        match event {
            Some(Ok(GenerationEvent::Token(text))) => {
                self.raw_answer.push_str(&text);
                self.tokens.push(text.clone());
                SseEvent::Token { text }
            }
            Some(Ok(GenerationEvent::Done(summary))) => {
                self.finish_and_store(Ok(Some(summary))).await
            }
            Some(Err(e)) => self.finish(Err(e)),
            None => self.finish(Err(GatewayError::ShuttingDown)),
        }
    }

    /// [`AnswerEvents::finish`], then the cache store of a successful answer.
    async fn finish_and_store(
        &mut self,
        outcome: Result<Option<crate::query::answer_stream::GenerationSummary>, GatewayError>,
    ) -> SseEvent {
        let mut event = self.finish(outcome);
        if let (SseEvent::Done(response), Some((cache, miss))) = (&mut event, self.store.take()) {
            let tokens = std::mem::take(&mut self.tokens);
            miss.store(&cache, response, tokens).await;
        }
        event
    }

    fn finish(
        &mut self,
        outcome: Result<Option<crate::query::answer_stream::GenerationSummary>, GatewayError>,
    ) -> SseEvent {
        self.phase = Phase::Finished;
        // Drop the call now: nothing more is read from it.
        self.generation = None;
        match outcome {
            Ok(summary) => {
                let profile = self.profile.take().unwrap_or_else(Profile::start);
                let found = std::mem::take(&mut self.found);
                let response = complete(&self.raw_answer, found, summary, profile, &self.ctx);
                if let Some(window) = &self.profiles {
                    window.record(&response.profile);
                }
                SseEvent::Done(Box::new(response))
            }
            Err(e) => {
                tracing::warn!(trace_id = %self.ctx.trace_id, error = %e, "answer stream failed");
                SseEvent::Error {
                    code: e.code().as_str().to_string(),
                    message: e.to_string(),
                }
            }
        }
    }

    /// The encoded events as a response body stream.
    pub fn into_body(self) -> impl Stream<Item = Result<Bytes, Infallible>> + Send + 'static {
        futures::stream::unfold(self, |mut events| async move {
            let event = events.next_event().await?;
            Some((Ok(event.encode()), events))
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::api::responses::Source;
    use crate::query::answer_stream::tests::{done, stream_of, token};
    use crate::request_context::RequestContext;
    use futures::StreamExt;

    fn source(index: usize) -> Source {
        Source {
            index,
            source: format!("doc{index}.md"),
            chunk: 0,
            text: "text".into(),
            score: 0.5,
            rerank_score: None,
            vector_score: None,
            bm25_score: None,
            collection: "default".into(),
            metadata: Default::default(),
        }
    }

    fn ctx() -> RequestContext {
        RequestContext {
            trace_id: "0123456789abcdef0123456789abcdef".into(),
            span_id: "0123456789abcdef".into(),
            request_id: "r".into(),
        }
    }

    async fn all_events(events: AnswerEvents) -> Vec<SseEvent> {
        let mut events = events;
        let mut out = Vec::new();
        while let Some(e) = events.next_event().await {
            out.push(e);
        }
        out
    }

    #[tokio::test]
    async fn contexts_then_tokens_then_done_with_clean_citations() {
        let found = Found {
            sources: vec![source(1), source(2)],
            reranker: None,
            expansion: None,
        };
        let generation = stream_of(vec![token("Yes [1]"), token(" and [7]."), done()]);
        let events = AnswerEvents::new(
            found,
            Some(generation),
            Profile::start(),
            ctx(),
            CancellationToken::new(),
        );
        let events = all_events(events).await;
        let names: Vec<&str> = events.iter().map(SseEvent::name).collect();
        assert_eq!(names, ["contexts", "token", "token", "done"]);
        let SseEvent::Done(done) = &events[3] else {
            panic!()
        };
        assert_eq!(done.answer, "Yes [1] and.");
        assert_eq!(done.sources.len(), 2);
        assert_eq!(done.trace_id, ctx().trace_id);
        let steps: Vec<&str> = done.profile.steps.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(steps, ["generate.first_token", "generate"]);
        assert_eq!(
            done.generation.as_ref().map(|g| g.finish_reason.as_str()),
            Some("stop")
        );
    }

    #[tokio::test]
    async fn a_finished_answer_is_recorded_in_the_profile_window() {
        let window = Arc::new(ProfileWindow::default());
        let found = Found {
            sources: vec![source(1)],
            reranker: None,
            expansion: None,
        };
        let generation = stream_of(vec![token("Yes [1]"), done()]);
        let events = AnswerEvents::new(
            found,
            Some(generation),
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
        let found = Found {
            sources: vec![source(1)],
            reranker: None,
            expansion: None,
        };
        let generation = stream_of(vec![
            token("Half"),
            Err(tonic::Status::unavailable("connection reset")),
        ]);
        let events = AnswerEvents::new(
            found,
            Some(generation),
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
            None,
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
        assert!(wire.contains(NOTHING_FOUND_ANSWER), "{wire}");
        assert!(wire.ends_with("\n\n"));
    }

    #[tokio::test]
    async fn shutdown_ends_an_open_stream_with_an_error() {
        let found = Found {
            sources: vec![source(1)],
            reranker: None,
            expansion: None,
        };
        let silent = AnswerStream::new(
            futures::stream::pending().boxed(),
            std::time::Instant::now(),
            Duration::from_secs(600),
        );
        let shutdown = CancellationToken::new();
        let mut events = AnswerEvents::new(
            found,
            Some(silent),
            Profile::start(),
            ctx(),
            shutdown.clone(),
        );
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
}
