//! The `openai` protocol: any OpenAI-compatible `POST {base_url}/chat/completions` with
//! `"stream": true`, which answers Server-Sent Events — `data: {"choices":[{"delta":
//! {"content":"..."},"finish_reason":null}]}` per piece, a last choice with `finish_reason`,
//! optionally a usage chunk, then `data: [DONE]`. Errors come as an HTTP status with
//! `{"error":{"message","type","code"}}` (401 bad key, 429 rate limit, 5xx), or as a
//! `data: {"error":...}` event mid-stream. A stream that ends before `[DONE]` or a finish
//! reason is an error, not a short answer. The protocol does not report prompt processing time.

use super::protocol::{Chunk, Framing, Protocol, RemoteOptions};
use crate::generator::FinishReason;
use crate::template::PromptTemplate;
use serde_json::{Value, json};
use std::time::Duration;

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

/// OpenAI's `/chat/completions`, with the API key when one is set.
#[derive(Clone, Default)]
pub struct OpenAi {
    api_key: Option<String>,
}

impl std::fmt::Debug for OpenAi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAi")
            .field("api_key", &self.api_key.as_ref().map(|_| "<set>"))
            .finish()
    }
}

impl Protocol for OpenAi {
    const BACKEND: &'static str = "openai";
    const FRAMING: Framing = Framing::Sse;
    const END_MARKER: &'static str = "a finish reason or [DONE]";
    type Options = OpenAiOptions;

    fn configure(options: OpenAiOptions) -> (Self, RemoteOptions) {
        let OpenAiOptions {
            base_url,
            model,
            api_key,
            first_token_timeout,
            max_prompt_tokens,
            max_new_tokens,
            prompt,
        } = options;
        (
            OpenAi { api_key },
            RemoteOptions {
                base_url,
                model,
                first_token_timeout,
                max_prompt_tokens,
                max_new_tokens,
                prompt,
            },
        )
    }

    fn request(
        &self,
        client: &reqwest::Client,
        options: &RemoteOptions,
        messages: Value,
        max_new_tokens: usize,
    ) -> (String, reqwest::RequestBuilder) {
        let url = format!(
            "{}/chat/completions",
            options.base_url.trim_end_matches('/')
        );
        let body = json!({
            "model": options.model,
            "stream": true,
            "stream_options": { "include_usage": true },
            "max_tokens": max_new_tokens,
            "messages": messages,
        });
        let mut request = client
            .post(&url)
            .header(reqwest::header::ACCEPT, "text/event-stream")
            .json(&body);
        if let Some(key) = &self.api_key {
            request = request.bearer_auth(key);
        }
        (url, request)
    }

    fn read<'a>(&self, message: &'a Value) -> Chunk<'a> {
        let mut chunk = Chunk::default();
        if let Some(usage) = message.get("usage").filter(|u| !u.is_null()) {
            let count = |key: &str| usage.get(key).and_then(Value::as_u64).map(|n| n as usize);
            chunk.prompt_tokens = count("prompt_tokens");
            chunk.completion_tokens = count("completion_tokens");
        }
        let Some(choice) = message.pointer("/choices/0") else {
            return chunk;
        };
        chunk.finish = match choice.get("finish_reason").and_then(Value::as_str) {
            Some("length") => Some(FinishReason::Length),
            Some(_) => Some(FinishReason::Stop),
            None => None,
        };
        chunk.content = choice
            .pointer("/delta/content")
            .and_then(Value::as_str)
            .unwrap_or_default();
        chunk
    }
}
