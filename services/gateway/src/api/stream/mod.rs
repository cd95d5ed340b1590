//! `POST /api/query/stream`: the same pipeline as `/api/query`, answered as Server-Sent
//! Events — one `contexts` event, `token` events as the model writes, a `sentence` event for
//! each answer sentence once it is complete and grounded (its citations corrected against the
//! passages sent), then `done` (grounded answer, sentences, grounding, passages, sources,
//! profile, trace id) or `error`. An extractive answer is one `token` with the whole answer,
//! its `sentence` events and `done`. Failures before the first event (bad input,
//! retrieval down, generation unreachable) are ordinary JSON error responses; once the stream
//! has started, every way it can end sends a final event, so it is never left unterminated.
//! The generation call lives inside the response body: a client that disconnects drops it,
//! which cancels the call and stops the model.

use crate::answer_cache::{self, Miss};
use crate::api::extract::ApiJson;
use crate::api::sse::{self, SseEvent};
use crate::error::GatewayError;
use crate::query::answer::completion::{Completion, complete};
use crate::query::answer::{Embedder, GroundedAnswer, Selection};
use crate::query::answer_stream::{AnswerStream, GenerationEvent, GenerationSummary};
use crate::query::pipeline::{Found, NOTHING_FOUND_ANSWER};
use crate::query::plan::{QueryRequest, query_plan};
use crate::query::profile::Profile;
use crate::query::profile_window::ProfileWindow;
use crate::request_context::RequestContext;
use crate::state::AppState;
use axum::extract::{Extension, State};
use axum::response::Response;
use bytes::Bytes;
use futures::Stream;
use ragmesh_config::{AnswerMode, AnswerSettings};
use ragmesh_core::Classify;
use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};
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
    let settings = state.pipeline.answer_settings().clone();
    let mode = state.pipeline.mode(&plan);
    let embedder = Embedder::retrieval(state.pipeline.backends().clone(), ctx.clone());
    let mut answer = AnswerKind::NothingFound(mode);
    if !found.sources.is_empty() {
        let selection = state
            .pipeline
            .select_passages(
                &plan,
                miss.vector.clone(),
                &found.sources,
                &ctx,
                &mut profile,
            )
            .await?;
        answer = match mode {
            AnswerMode::Extractive => AnswerKind::Extractive(selection),
            AnswerMode::Generate => {
                let contexts = selection.contexts(&found.sources);
                let generation = state
                    .pipeline
                    .start_generation(&plan, contexts, &ctx)
                    .await?;
                AnswerKind::Generate(generation, selection)
            }
        };
    }
    let cache_status = miss.cache_status();
    let events = AnswerEvents::new(found, answer, profile, ctx, state.shutdown.clone())
        .grounding_with(settings, embedder)
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

/// How the answer of a stream is made.
pub enum AnswerKind {
    /// Nothing was found (in the request's mode): one token with the fixed answer, then `done`.
    NothingFound(AnswerMode),
    /// The model writes it from the selected passages.
    Generate(AnswerStream, Selection),
    /// Composed from the selected source sentences.
    Extractive(Selection),
}

/// The event sequence of one streamed answer.
pub struct AnswerEvents {
    phase: Phase,
    found: Found,
    /// The model's answer stream (generate mode, until it ends).
    generation: Option<AnswerStream>,
    selection: Selection,
    mode: AnswerMode,
    /// The answer's sentences grounded so far (none when nothing was found).
    grounded: Option<GroundedAnswer>,
    settings: AnswerSettings,
    embedder: Embedder,
    /// Time spent grounding, reported as the `grounding` step.
    grounding_time: Duration,
    /// Events ready to send before anything else is read.
    pending: VecDeque<SseEvent>,
    /// Sentence events sent so far.
    sentences_sent: usize,
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

    /// Grounds with `settings` and embeds answer sentences with `embedder` (default: the
    /// default settings, term matching only).
    pub fn grounding_with(mut self, settings: AnswerSettings, embedder: Embedder) -> Self {
        if let Some(grounded) = &mut self.grounded {
            *grounded = GroundedAnswer::new(self.selection.grounder(&settings));
        }
        self.settings = settings;
        self.embedder = embedder;
        self
    }

    pub fn new(
        found: Found,
        answer: AnswerKind,
        profile: Profile,
        ctx: RequestContext,
        shutdown: CancellationToken,
    ) -> AnswerEvents {
        let settings = AnswerSettings::default();
        let (generation, selection, mode) = match answer {
            AnswerKind::NothingFound(mode) => (None, None, mode),
            AnswerKind::Generate(stream, selection) => {
                (Some(stream), Some(selection), AnswerMode::Generate)
            }
            AnswerKind::Extractive(selection) => (None, Some(selection), AnswerMode::Extractive),
        };
        let grounded = selection
            .as_ref()
            .map(|s| GroundedAnswer::new(s.grounder(&settings)));
        AnswerEvents {
            phase: Phase::Contexts,
            found,
            generation,
            selection: selection.unwrap_or_default(),
            mode,
            grounded,
            settings,
            embedder: Embedder::none(),
            grounding_time: Duration::ZERO,
            pending: VecDeque::new(),
            sentences_sent: 0,
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
        if let Some(event) = self.pending.pop_front() {
            return Some(event);
        }
        match self.phase {
            Phase::Contexts => {
                self.phase = Phase::Tokens;
                Some(SseEvent::Contexts {
                    sources: self.found.sources.clone(),
                })
            }
            Phase::Tokens => {
                let event = self.next_answer_event().await;
                // `done` goes after the last `sentence` events.
                if matches!(event, SseEvent::Done(_)) && !self.pending.is_empty() {
                    self.pending.push_back(event);
                    return self.pending.pop_front();
                }
                Some(event)
            }
            Phase::Finished => None,
        }
    }

    async fn next_answer_event(&mut self) -> SseEvent {
        let Some(generation) = self.generation.as_mut() else {
            if !self.raw_answer.is_empty() {
                return self.finish_and_store(Ok(None)).await;
            }
            if self.mode == AnswerMode::Extractive && self.grounded.is_some() {
                let started = Instant::now();
                let answer = self.selection.extractive_answer(&self.settings);
                self.grounding_time += started.elapsed();
                self.raw_answer = answer.report().answer;
                self.grounded = Some(answer);
                self.queue_new_sentences();
            } else {
                self.raw_answer = NOTHING_FOUND_ANSWER.to_string();
            }
            return SseEvent::Token {
                text: self.raw_answer.clone(),
            };
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
                if let Err(e) = self.ground(false).await {
                    return self.finish(Err(e));
                }
                SseEvent::Token { text }
            }
            Some(Ok(GenerationEvent::Done(summary))) => {
                if let Some(grounded) = &mut self.grounded {
                    grounded.restrict_to(&summary.info.contexts_sent);
                }
                if let Err(e) = self.ground(true).await {
                    return self.finish(Err(e));
                }
                self.finish_and_store(Ok(Some(summary))).await
            }
            Some(Err(e)) => self.finish(Err(e)),
            None => self.finish(Err(GatewayError::ShuttingDown)),
        }
    }

    /// Grounds the sentences the answer has completed (all when `finished`) and queues their
    /// `sentence` events.
    async fn ground(&mut self, finished: bool) -> Result<(), GatewayError> {
        let Some(grounded) = &mut self.grounded else {
            return Ok(());
        };
        let started = Instant::now();
        let result = grounded
            .advance(&self.raw_answer, finished, &self.embedder)
            .await;
        self.grounding_time += started.elapsed();
        result?;
        self.queue_new_sentences();
        Ok(())
    }

    /// Queues a `sentence` event for every grounded sentence not sent yet.
    fn queue_new_sentences(&mut self) {
        let Some(grounded) = &self.grounded else {
            return;
        };
        let sentences = grounded.sentences();
        for (index, sentence) in sentences.iter().enumerate().skip(self.sentences_sent) {
            self.pending.push_back(SseEvent::Sentence {
                index,
                sentence: (*sentence).clone(),
            });
        }
        self.sentences_sent = sentences.len();
    }

    /// [`AnswerEvents::finish`], then the cache store of a successful answer.
    async fn finish_and_store(
        &mut self,
        outcome: Result<Option<GenerationSummary>, GatewayError>,
    ) -> SseEvent {
        let mut event = self.finish(outcome);
        if let (SseEvent::Done(response), Some((cache, miss))) = (&mut event, self.store.take()) {
            let tokens = std::mem::take(&mut self.tokens);
            miss.store(&cache, response, tokens).await;
        }
        event
    }

    /// The final event: `done` (after any `sentence` events still queued, which are sent
    /// first) or `error`.
    fn finish(&mut self, outcome: Result<Option<GenerationSummary>, GatewayError>) -> SseEvent {
        self.phase = Phase::Finished;
        // Drop the call now: nothing more is read from it.
        self.generation = None;
        match outcome {
            Ok(summary) => {
                let mut profile = self.profile.take().unwrap_or_else(Profile::start);
                let found = std::mem::take(&mut self.found);
                let completion = match &self.grounded {
                    Some(grounded) => {
                        profile.record_duration("grounding", self.grounding_time);
                        Completion {
                            mode: self.mode,
                            report: grounded.report(),
                            passages: self.selection.reports(),
                        }
                    }
                    None => Completion::fixed(&self.raw_answer, self.mode, &self.settings),
                };
                let response = complete(completion, found, summary, profile, &self.ctx);
                if let Some(window) = &self.profiles {
                    window.record(&response.profile);
                }
                SseEvent::Done(Box::new(response))
            }
            Err(e) => {
                self.pending.clear();
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
mod tests;
