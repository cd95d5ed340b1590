//! The `ollama` provider: an Ollama server's `POST /api/chat` with `"stream": true`, which
//! answers newline-delimited JSON — `{"model","created_at","message":{"role","content"},
//! "done":false}` per piece, then one `{"done":true,"done_reason",...,"prompt_eval_count",
//! "eval_count",...}` — or `{"error":"..."}` (as the body of an HTTP error, or as a line in the
//! middle of the stream). A stream that ends without `done:true` is an error, not a short answer.

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

const BACKEND: &str = "ollama";

#[derive(Debug, Clone)]
pub struct OllamaOptions {
    /// e.g. `http://127.0.0.1:11434` (without `/api`).
    pub base_url: String,
    pub model: String,
    pub first_token_timeout: Duration,
    /// Prompt budget in approximate tokens.
    pub max_prompt_tokens: usize,
    /// Cap on generated tokens when a request gives none.
    pub max_new_tokens: usize,
    pub prompt: PromptTemplate,
}

/// Answers through an Ollama server.
#[derive(Debug, Clone)]
pub struct OllamaGenerator {
    name: String,
    options: Arc<OllamaOptions>,
    client: reqwest::Client,
}

impl OllamaGenerator {
    /// Nothing is dialled yet: an unreachable server shows up on the first request, as a 503
    /// naming `ollama`.
    pub fn new(options: OllamaOptions) -> Result<Self, LlmError> {
        if options.model.trim().is_empty() {
            return Err(LlmError::remote(
                BACKEND,
                RemoteFailure::Unavailable,
                "is not configured: set generation.ollama.model",
            ));
        }
        Ok(OllamaGenerator {
            name: format!("{BACKEND}:{}", options.model),
            client: remote::http_client(BACKEND)?,
            options: Arc::new(options),
        })
    }
}

impl Generator for OllamaGenerator {
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

async fn answer(
    tx: EventSender,
    options: Arc<OllamaOptions>,
    client: reqwest::Client,
    name: String,
    request: GenerationRequest,
) -> Result<(), LlmError> {
    let received = Instant::now();
    request.validate()?;
    let packed = remote::pack(&options.prompt, options.max_prompt_tokens, &request)?;
    let max_new = request.max_new_tokens.unwrap_or(options.max_new_tokens);
    let url = format!("{}/api/chat", options.base_url.trim_end_matches('/'));
    let body = json!({
        "model": options.model,
        "stream": true,
        "messages": [
            { "role": "system", "content": packed.turns.system },
            { "role": "user", "content": packed.turns.user },
        ],
        "options": { "num_predict": max_new },
    });
    let timeout = options.first_token_timeout;
    let deadline = tokio::time::Instant::from_std(received) + timeout;
    let response = remote::send(
        BACKEND,
        &url,
        client.post(&url).json(&body),
        deadline,
        timeout,
    )
    .await?;
    let mut lines = LineReader::new(BACKEND, response.bytes_stream());
    let mut first_token_at: Option<Instant> = None;
    let mut ttft_ms = 0.0;
    let mut pieces = 0usize;
    loop {
        let limit = first_token_at.is_none().then_some(deadline);
        let Some(line) =
            remote::next_or_stop(&tx, limit, BACKEND, timeout, lines.next_line()).await
        else {
            return Ok(()); // consumer gone: dropping the response closes the connection
        };
        let Some(line) = line? else {
            return Err(LlmError::remote(
                BACKEND,
                RemoteFailure::Unavailable,
                "ended the answer stream before \"done\": true",
            ));
        };
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let chunk: Value = serde_json::from_str(&line).map_err(|e| {
            LlmError::remote(
                BACKEND,
                RemoteFailure::Unavailable,
                format!("sent a line that is not JSON ({e}): {}", clip(&line)),
            )
        })?;
        if let Some(message) = remote::error_message(&chunk) {
            return Err(LlmError::remote(
                BACKEND,
                RemoteFailure::Unavailable,
                format!("failed mid-stream: {message}"),
            ));
        }
        let content = chunk
            .pointer("/message/content")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if !content.is_empty() {
            if first_token_at.is_none() {
                first_token_at = Some(Instant::now());
                ttft_ms = ms(received.elapsed());
            }
            pieces += 1;
            if tx
                .send(Ok(GenerationEvent::Token(content.to_string())))
                .await
                .is_err()
            {
                return Ok(());
            }
        }
        if chunk.get("done").and_then(Value::as_bool) == Some(true) {
            let count = |key: &str| chunk.get(key).and_then(Value::as_u64);
            let nanos_ms = |key: &str| count(key).map_or(0.0, |ns| ns as f64 / 1e6);
            let stats = GenerationStats {
                prompt_tokens: count("prompt_eval_count").map_or(packed.tokens, |n| n as usize),
                generated_tokens: count("eval_count").map_or(pieces, |n| n as usize),
                ttft_ms: if first_token_at.is_some() {
                    ttft_ms
                } else {
                    ms(received.elapsed())
                },
                prompt_ms: nanos_ms("prompt_eval_duration"),
                decode_ms: first_token_at.map_or(0.0, |t| ms(t.elapsed())),
                finish_reason: match chunk.get("done_reason").and_then(Value::as_str) {
                    Some("length") => FinishReason::Length,
                    _ => FinishReason::Stop,
                },
                model: name,
                contexts_sent: packed.contexts_sent,
            };
            let _ = tx.send(Ok(GenerationEvent::Done(stats))).await;
            return Ok(());
        }
    }
}
