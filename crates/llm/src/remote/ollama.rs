//! The `ollama` protocol: an Ollama server's `POST /api/chat` with `"stream": true`, which
//! answers newline-delimited JSON — `{"model","created_at","message":{"role","content"},
//! "done":false}` per piece, then one `{"done":true,"done_reason",...,"prompt_eval_count",
//! "eval_count",...}` — or `{"error":"..."}` (as the body of an HTTP error, or as a line in the
//! middle of the stream). A stream that ends without `done:true` is an error, not a short answer.

use super::protocol::{Chunk, Framing, Protocol, RemoteOptions};
use crate::generator::FinishReason;
use serde_json::{Value, json};

/// The configuration of the `ollama` provider (nothing beyond the common options).
pub type OllamaOptions = RemoteOptions;

/// Ollama's `/api/chat`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Ollama;

impl Protocol for Ollama {
    const BACKEND: &'static str = "ollama";
    const FRAMING: Framing = Framing::Ndjson;
    const END_MARKER: &'static str = "\"done\": true";
    type Options = OllamaOptions;

    fn configure(options: OllamaOptions) -> (Self, RemoteOptions) {
        (Ollama, options)
    }

    fn request(
        &self,
        client: &reqwest::Client,
        options: &RemoteOptions,
        messages: Value,
        max_new_tokens: usize,
    ) -> (String, reqwest::RequestBuilder) {
        let url = format!("{}/api/chat", options.base_url.trim_end_matches('/'));
        let body = json!({
            "model": options.model,
            "stream": true,
            "messages": messages,
            "options": { "num_predict": max_new_tokens },
        });
        let request = client.post(&url).json(&body);
        (url, request)
    }

    fn read<'a>(&self, message: &'a Value) -> Chunk<'a> {
        let content = message
            .pointer("/message/content")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if message.get("done").and_then(Value::as_bool) != Some(true) {
            return Chunk {
                content,
                ..Chunk::default()
            };
        }
        let count = |key: &str| message.get(key).and_then(Value::as_u64);
        Chunk {
            content,
            finish: Some(match message.get("done_reason").and_then(Value::as_str) {
                Some("length") => FinishReason::Length,
                _ => FinishReason::Stop,
            }),
            prompt_tokens: count("prompt_eval_count").map(|n| n as usize),
            completion_tokens: count("eval_count").map(|n| n as usize),
            prompt_ms: count("prompt_eval_duration").map(|ns| ns as f64 / 1e6),
            last: true,
        }
    }
}
