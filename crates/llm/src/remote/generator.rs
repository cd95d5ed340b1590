//! The one remote generator, generic over a provider's [`Protocol`]: it packs the prompt with
//! an approximate token count (the provider's tokenizer is not here), sends the streaming
//! request with the first-token deadline, reads the answer frame by frame, forwards text pieces
//! and ends with the stats the provider reported (or what was counted here). Dropping the
//! stream closes its channel; the task notices at its next await and drops the HTTP response,
//! which closes the connection, so the remote model stops too.

use super::frames::{Frame, FrameReader};
use super::http::{self, LineReader, clip};
use super::protocol::{Chunk, Protocol, RemoteOptions};
use super::token_count::ApproxTokenCounter;
use crate::LlmError;
use crate::error::RemoteFailure;
use crate::generator::{
    FinishReason, GenerationEvent, GenerationRequest, GenerationStats, Generator,
};
use crate::packing::{PackedPrompt, PromptPacker};
use crate::template::{ChatTemplate, PromptTemplate};
use futures::StreamExt;
use futures::stream::BoxStream;
use serde_json::{Value, json};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc::Sender;
use tokio_stream::wrappers::ReceiverStream;

/// Events buffered between the HTTP task and the consumer.
const CHANNEL_CAPACITY: usize = 16;

type EventSender = Sender<Result<GenerationEvent, LlmError>>;

/// Answers through a remote provider speaking `P`.
pub struct RemoteGenerator<P: Protocol> {
    name: String,
    inner: Arc<Inner<P>>,
}

struct Inner<P> {
    protocol: P,
    options: RemoteOptions,
    client: reqwest::Client,
}

impl<P: Protocol> Clone for RemoteGenerator<P> {
    fn clone(&self) -> Self {
        RemoteGenerator {
            name: self.name.clone(),
            inner: self.inner.clone(),
        }
    }
}

impl<P: Protocol> std::fmt::Debug for RemoteGenerator<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteGenerator")
            .field("name", &self.name)
            .field("base_url", &self.inner.options.base_url)
            .finish_non_exhaustive()
    }
}

impl<P: Protocol> RemoteGenerator<P> {
    /// Nothing is dialled yet: an unreachable provider shows up on the first request, as a 503
    /// naming it.
    pub fn new(options: P::Options) -> Result<Self, LlmError> {
        let (protocol, options) = P::configure(options);
        if options.model.trim().is_empty() {
            return Err(LlmError::remote(
                P::BACKEND,
                RemoteFailure::Unavailable,
                format!("is not configured: set generation.{}.model", P::BACKEND),
            ));
        }
        Ok(RemoteGenerator {
            name: format!("{}:{}", P::BACKEND, options.model),
            inner: Arc::new(Inner {
                protocol,
                options,
                client: http::http_client(P::BACKEND)?,
            }),
        })
    }
}

impl<P: Protocol> Generator for RemoteGenerator<P> {
    fn name(&self) -> &str {
        &self.name
    }

    fn generate(
        &self,
        request: GenerationRequest,
    ) -> BoxStream<'static, Result<GenerationEvent, LlmError>> {
        let inner = self.inner.clone();
        let name = self.name.clone();
        spawn_stream(move |tx| answer(tx, inner, name, request))
    }
}

/// The system and user messages for `request` within `max_tokens` approximate tokens.
fn pack(
    prompt: &PromptTemplate,
    max_tokens: usize,
    request: &GenerationRequest,
) -> Result<PackedPrompt, LlmError> {
    PromptPacker {
        counter: &ApproxTokenCounter,
        template: ChatTemplate::ChatMl.into(),
        prompt,
        instruction: request.instruction.as_deref(),
        bos: "",
        max_tokens,
    }
    .pack(&request.query, &request.contexts)
}

/// Runs `drive` on its own task and returns its events as a stream; an error `drive` returns
/// becomes the stream's last item.
fn spawn_stream<F, Fut>(drive: F) -> BoxStream<'static, Result<GenerationEvent, LlmError>>
where
    F: FnOnce(EventSender) -> Fut,
    Fut: Future<Output = Result<(), LlmError>> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel(CHANNEL_CAPACITY);
    let task = drive(tx.clone());
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => {
            runtime.spawn(async move {
                if let Err(err) = task.await {
                    tracing::warn!(error = %err, "generation failed");
                    let _ = tx.send(Err(err)).await;
                }
            });
        }
        Err(_) => {
            let err = LlmError::Runtime("generate must be called inside a tokio runtime".into());
            return futures::stream::once(async move { Err(err) }).boxed();
        }
    }
    ReceiverStream::new(rx).boxed()
}

/// What the stream has said so far.
#[derive(Default)]
struct Progress {
    first_token_at: Option<Instant>,
    ttft_ms: f64,
    pieces: usize,
    finish: Option<FinishReason>,
    prompt_tokens: Option<usize>,
    completion_tokens: Option<usize>,
    prompt_ms: Option<f64>,
}

impl Progress {
    fn record(&mut self, chunk: &Chunk<'_>) {
        self.finish = chunk.finish.or(self.finish);
        self.prompt_tokens = chunk.prompt_tokens.or(self.prompt_tokens);
        self.completion_tokens = chunk.completion_tokens.or(self.completion_tokens);
        self.prompt_ms = chunk.prompt_ms.or(self.prompt_ms);
    }
}

async fn answer<P: Protocol>(
    tx: EventSender,
    inner: Arc<Inner<P>>,
    name: String,
    request: GenerationRequest,
) -> Result<(), LlmError> {
    let received = Instant::now();
    request.validate()?;
    let options = &inner.options;
    let packed = pack(&options.prompt, options.max_prompt_tokens, &request)?;
    let max_new = request.max_new_tokens.unwrap_or(options.max_new_tokens);
    let messages = json!([
        { "role": "system", "content": packed.turns.system },
        { "role": "user", "content": packed.turns.user },
    ]);
    let (url, http_request) = inner
        .protocol
        .request(&inner.client, options, messages, max_new);
    let timeout = options.first_token_timeout;
    let deadline = tokio::time::Instant::from_std(received) + timeout;
    let response = http::send(P::BACKEND, &url, http_request, deadline, timeout).await?;
    let lines = LineReader::new(P::BACKEND, response.bytes_stream());
    let mut frames = FrameReader::new(P::FRAMING, lines);
    let mut progress = Progress::default();
    loop {
        let limit = progress.first_token_at.is_none().then_some(deadline);
        let Some(frame) = next_or_stop(&tx, limit, P::BACKEND, timeout, frames.next_frame()).await
        else {
            return Ok(()); // consumer gone: dropping the response closes the connection
        };
        let (payload, error_event) = match frame? {
            None => break,
            Some(frame) => match frame? {
                Frame::Done => {
                    return finish::<P>(&tx, progress, packed, received, name, true).await;
                }
                Frame::Message {
                    payload,
                    error_event,
                } => (payload, error_event),
            },
        };
        let message: Value = serde_json::from_str(&payload).map_err(|e| {
            LlmError::remote(
                P::BACKEND,
                RemoteFailure::Unavailable,
                format!(
                    "sent {} that is not JSON ({e}): {}",
                    P::FRAMING.unit(),
                    clip(&payload)
                ),
            )
        })?;
        if let Some(error) =
            http::error_message(&message).or_else(|| error_event.then(|| clip(&payload)))
        {
            return Err(LlmError::remote(
                P::BACKEND,
                RemoteFailure::Unavailable,
                format!("failed mid-stream: {error}"),
            ));
        }
        let chunk = inner.protocol.read(&message);
        progress.record(&chunk);
        if !chunk.content.is_empty() {
            if progress.first_token_at.is_none() {
                progress.first_token_at = Some(Instant::now());
                progress.ttft_ms = ms(received.elapsed());
            }
            progress.pieces += 1;
            let piece = GenerationEvent::Token(chunk.content.to_string());
            if tx.send(Ok(piece)).await.is_err() {
                return Ok(());
            }
        }
        if chunk.last {
            return finish::<P>(&tx, progress, packed, received, name, true).await;
        }
    }
    finish::<P>(&tx, progress, packed, received, name, false).await
}

/// Awaits `next` unless the consumer has gone (then None) or, before the first token, the
/// first-token deadline passes.
async fn next_or_stop<T>(
    tx: &EventSender,
    first_token_deadline: Option<tokio::time::Instant>,
    backend: &'static str,
    timeout: Duration,
    next: impl Future<Output = T>,
) -> Option<Result<T, LlmError>> {
    let limit = async {
        match first_token_deadline {
            Some(deadline) => tokio::time::sleep_until(deadline).await,
            None => futures::future::pending().await,
        }
    };
    tokio::select! {
        _ = tx.closed() => None,
        _ = limit => Some(Err(http::first_token_timeout(backend, timeout))),
        value = next => Some(Ok(value)),
    }
}

/// Sends the stats; an answer that ended without a finish reason (or `[DONE]`) is an error.
async fn finish<P: Protocol>(
    tx: &EventSender,
    progress: Progress,
    packed: PackedPrompt,
    received: Instant,
    name: String,
    ended: bool,
) -> Result<(), LlmError> {
    let Some(finish_reason) = progress.finish.or(ended.then_some(FinishReason::Stop)) else {
        return Err(LlmError::remote(
            P::BACKEND,
            RemoteFailure::Unavailable,
            format!("ended the answer stream before {}", P::END_MARKER),
        ));
    };
    let stats = GenerationStats {
        prompt_tokens: progress.prompt_tokens.unwrap_or(packed.tokens),
        generated_tokens: progress.completion_tokens.unwrap_or(progress.pieces),
        ttft_ms: if progress.first_token_at.is_some() {
            progress.ttft_ms
        } else {
            ms(received.elapsed())
        },
        prompt_ms: progress.prompt_ms.unwrap_or(0.0),
        decode_ms: progress.first_token_at.map_or(0.0, |t| ms(t.elapsed())),
        finish_reason,
        model: name,
        contexts_sent: packed.contexts_sent,
    };
    let _ = tx.send(Ok(GenerationEvent::Done(stats))).await;
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
