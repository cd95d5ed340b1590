//! The `openai` provider: any OpenAI-compatible `POST {base_url}/chat/completions` with
//! `"stream": true`, which answers Server-Sent Events — `data: {"choices":[{"delta":
//! {"content":"..."},"finish_reason":null}]}` per piece, a last choice with `finish_reason`,
//! optionally a usage chunk, then `data: [DONE]`. Errors come as an HTTP status with
//! `{"error":{"message","type","code"}}` (401 bad key, 429 rate limit, 5xx), or as a
//! `data: {"error":...}` event mid-stream. A stream that ends before `[DONE]` or a finish
//! reason is an error, not a short answer.

use crate::LlmError;
use crate::error::RemoteFailure;
use crate::generator::{
    FinishReason, GenerationEvent, GenerationRequest, GenerationStats, Generator,
};
use crate::prompt_template::PromptTemplate;
use crate::remote::{self, EventSender, LineReader, clip, ms};
use futures::stream::BoxStream;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};

const BACKEND: &str = "openai";

#[derive(Clone)]
pub struct OpenAiOptions {
    /// Up to the version segment, e.g. `https://api.openai.com/v1`.
    pub base_url: String,
    pub model: String,
    pub api_key: Option<String>,
    pub first_token_timeout: Duration,
    /// Prompt budget in approximate tokens.
    pub max_prompt_tokens: usize,
    /// Cap on generated tokens when a request gives none.
    pub max_new_tokens: usize,
    pub prompt: PromptTemplate,
}

impl std::fmt::Debug for OpenAiOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiOptions")
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .field("api_key", &self.api_key.as_ref().map(|_| "<set>"))
            .finish_non_exhaustive()
    }
}

/// Answers through an OpenAI-compatible chat completions endpoint.
#[derive(Debug, Clone)]
pub struct OpenAiGenerator {
    name: String,
    options: Arc<OpenAiOptions>,
    client: reqwest::Client,
}

impl OpenAiGenerator {
    /// Nothing is dialled yet: an unreachable endpoint shows up on the first request, as a
    /// 503 naming `openai`.
    pub fn new(options: OpenAiOptions) -> Result<Self, LlmError> {
        if options.model.trim().is_empty() {
            return Err(LlmError::remote(
                BACKEND,
                RemoteFailure::Unavailable,
                "is not configured: set generation.openai.model",
            ));
        }
        Ok(OpenAiGenerator {
            name: format!("{BACKEND}:{}", options.model),
            client: remote::http_client(BACKEND)?,
            options: Arc::new(options),
        })
    }
}

impl Generator for OpenAiGenerator {
    fn name(&self) -> &str {
        &self.name
    }

    fn generate(
        &self,
        request: GenerationRequest,
    ) -> BoxStream<'static, Result<GenerationEvent, LlmError>> {
        let options = self.options.clone();
        let client = self.client.clone();
        let name = self.name.clone();
        remote::spawn_stream(move |tx| answer(tx, options, client, name, request))
    }
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
}

async fn answer(
    tx: EventSender,
    options: Arc<OpenAiOptions>,
    client: reqwest::Client,
    name: String,
    request: GenerationRequest,
) -> Result<(), LlmError> {
    let received = Instant::now();
    request.validate()?;
    let packed = remote::pack(&options.prompt, options.max_prompt_tokens, &request)?;
    let max_new = request.max_new_tokens.unwrap_or(options.max_new_tokens);
    let url = format!(
        "{}/chat/completions",
        options.base_url.trim_end_matches('/')
    );
    let body = json!({
        "model": options.model,
        "stream": true,
        "stream_options": { "include_usage": true },
        "max_tokens": max_new,
        "messages": [
            { "role": "system", "content": packed.turns.system },
            { "role": "user", "content": packed.turns.user },
        ],
    });
    let mut http = client
        .post(&url)
        .header(reqwest::header::ACCEPT, "text/event-stream")
        .json(&body);
    if let Some(key) = &options.api_key {
        http = http.bearer_auth(key);
    }
    let timeout = options.first_token_timeout;
    let deadline = tokio::time::Instant::from_std(received) + timeout;
    let response = remote::send(BACKEND, &url, http, deadline, timeout).await?;
    let mut lines = LineReader::new(BACKEND, response.bytes_stream());
    let mut progress = Progress::default();
    let mut event_name = String::new();
    let mut data: Vec<String> = Vec::new();
    loop {
        let limit = progress.first_token_at.is_none().then_some(deadline);
        let Some(line) =
            remote::next_or_stop(&tx, limit, BACKEND, timeout, lines.next_line()).await
        else {
            return Ok(()); // consumer gone: dropping the response closes the connection
        };
        let line = match line? {
            Some(line) => line?,
            // The body ended; a last event without its blank line still counts.
            None if !data.is_empty() => String::new(),
            None => break,
        };
        if !line.is_empty() {
            if line.starts_with(':') {
                continue; // comment / keep-alive
            }
            let (field, value) = line.split_once(':').unwrap_or((line.as_str(), ""));
            let value = value.strip_prefix(' ').unwrap_or(value);
            match field {
                "data" => data.push(value.to_string()),
                "event" => event_name = value.to_string(),
                _ => {}
            }
            continue;
        }
        if data.is_empty() {
            continue;
        }
        let payload = data.join("\n");
        data.clear();
        let is_error_event = std::mem::take(&mut event_name) == "error";
        if payload.trim() == "[DONE]" {
            return finish(&tx, progress, packed, received, name, true).await;
        }
        let chunk: Value = serde_json::from_str(&payload).map_err(|e| {
            LlmError::remote(
                BACKEND,
                RemoteFailure::Unavailable,
                format!("sent an event that is not JSON ({e}): {}", clip(&payload)),
            )
        })?;
        if let Some(message) =
            remote::error_message(&chunk).or_else(|| is_error_event.then(|| clip(&payload)))
        {
            return Err(LlmError::remote(
                BACKEND,
                RemoteFailure::Unavailable,
                format!("failed mid-stream: {message}"),
            ));
        }
        if !take_chunk(&tx, &chunk, &mut progress, received).await {
            return Ok(());
        }
    }
    finish(&tx, progress, packed, received, name, false).await
}

/// Records one chunk and forwards its text; false when the consumer has gone.
async fn take_chunk(
    tx: &EventSender,
    chunk: &Value,
    progress: &mut Progress,
    received: Instant,
) -> bool {
    if let Some(usage) = chunk.get("usage").filter(|u| !u.is_null()) {
        let count = |key: &str| usage.get(key).and_then(Value::as_u64).map(|n| n as usize);
        progress.prompt_tokens = count("prompt_tokens").or(progress.prompt_tokens);
        progress.completion_tokens = count("completion_tokens").or(progress.completion_tokens);
    }
    let Some(choice) = chunk.pointer("/choices/0") else {
        return true;
    };
    match choice.get("finish_reason").and_then(Value::as_str) {
        Some("length") => progress.finish = Some(FinishReason::Length),
        Some(_) => progress.finish = Some(FinishReason::Stop),
        None => {}
    }
    let content = choice
        .pointer("/delta/content")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if content.is_empty() {
        return true;
    }
    if progress.first_token_at.is_none() {
        progress.first_token_at = Some(Instant::now());
        progress.ttft_ms = ms(received.elapsed());
    }
    progress.pieces += 1;
    tx.send(Ok(GenerationEvent::Token(content.to_string())))
        .await
        .is_ok()
}

async fn finish(
    tx: &EventSender,
    progress: Progress,
    packed: crate::PackedPrompt,
    received: Instant,
    name: String,
    saw_done: bool,
) -> Result<(), LlmError> {
    let Some(finish_reason) = progress.finish.or(saw_done.then_some(FinishReason::Stop)) else {
        return Err(LlmError::remote(
            BACKEND,
            RemoteFailure::Unavailable,
            "ended the answer stream before a finish reason or [DONE]",
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
        // The protocol does not report prompt processing time.
        prompt_ms: 0.0,
        decode_ms: progress.first_token_at.map_or(0.0, |t| ms(t.elapsed())),
        finish_reason,
        model: name,
        contexts_sent: packed.contexts_sent,
    };
    let _ = tx.send(Ok(GenerationEvent::Done(stats))).await;
    Ok(())
}
