//! What differs between the HTTP providers, as the one trait the generic
//! [`RemoteGenerator`](super::RemoteGenerator) is parameterised by: the request (path, body,
//! headers), how the answer stream is framed (NDJSON lines or Server-Sent Events), and what one
//! streamed message says. Everything else — the prompt, deadlines, HTTP errors, cancellation,
//! the final stats — is the same for every provider and lives in the generator.

use crate::generator::FinishReason;
use crate::template::PromptTemplate;
use serde_json::Value;
use std::time::Duration;

/// Where and how a remote provider is called, whatever its protocol.
#[derive(Debug, Clone)]
pub struct RemoteOptions {
    /// The provider's base URL, e.g. `http://127.0.0.1:11434` for Ollama (without `/api`) or
    /// `https://api.openai.com/v1` (up to the version segment).
    pub base_url: String,
    pub model: String,
    pub first_token_timeout: Duration,
    /// Prompt budget in approximate tokens.
    pub max_prompt_tokens: usize,
    /// Cap on generated tokens when a request gives none.
    pub max_new_tokens: usize,
    pub prompt: PromptTemplate,
}

/// How the body of a streamed answer is cut into messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// One JSON document per line (Ollama).
    Ndjson,
    /// Server-Sent Events: `data:` lines joined per event, `event: error`, and `data: [DONE]`
    /// as the end (OpenAI).
    Sse,
}

impl Framing {
    /// What one message is called in errors.
    pub fn unit(self) -> &'static str {
        match self {
            Framing::Ndjson => "a line",
            Framing::Sse => "an event",
        }
    }
}

/// What one streamed message says; every field is optional but `content`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Chunk<'a> {
    /// Text of the answer in this message (may be empty).
    pub content: &'a str,
    pub finish: Option<FinishReason>,
    pub prompt_tokens: Option<usize>,
    pub completion_tokens: Option<usize>,
    pub prompt_ms: Option<f64>,
    /// This message ends the answer (Ollama's `"done": true`).
    pub last: bool,
}

/// One provider's wire protocol.
pub trait Protocol: Send + Sync + Sized + 'static {
    /// Names the provider in errors, in `backend:model` and in `generation.<backend>.model`.
    const BACKEND: &'static str;
    const FRAMING: Framing;
    /// What a stream that ends too early lacked, for the error ("ended the answer stream
    /// before …").
    const END_MARKER: &'static str;
    /// The provider's configuration.
    type Options;

    /// Splits the configuration into the protocol's own part and the common one.
    fn configure(options: Self::Options) -> (Self, RemoteOptions);

    /// The streaming request for `messages` (a JSON array of `{role, content}`): its URL and
    /// the request with body and headers.
    fn request(
        &self,
        client: &reqwest::Client,
        options: &RemoteOptions,
        messages: Value,
        max_new_tokens: usize,
    ) -> (String, reqwest::RequestBuilder);

    /// What one streamed message (already checked not to be an error) says.
    fn read<'a>(&self, message: &'a Value) -> Chunk<'a>;
}
