//! Generation providers: which backend answers (`embedded`, `ollama`, `openai`) and how the
//! two remote ones are reached. A remote provider is configured when its `model` is set; the
//! generation service refuses to start when the default provider is not configured, and a
//! request naming an unconfigured one gets a 503 naming it — never another backend's answer.

use serde::{Deserialize, Serialize};

/// Every provider name a request or the configuration may use.
pub const PROVIDERS: [&str; 3] = ["embedded", "ollama", "openai"];

/// Environment variable read for the OpenAI key when `generation.openai.api_key` is unset.
pub const OPENAI_KEY_ENV: &str = "OPENAI_API_KEY";

/// `[generation.ollama]`: an Ollama server's `/api/chat` with streaming NDJSON.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct OllamaSettings {
    pub base_url: String,
    /// Model name as Ollama knows it (e.g. `llama3.2:3b`); empty = provider not configured.
    pub model: String,
    /// How long the first streamed token may take (connect + prompt processing).
    pub first_token_timeout_ms: u64,
    /// Prompt budget in approximate tokens (4 characters each).
    pub max_prompt_tokens: usize,
}

impl Default for OllamaSettings {
    fn default() -> Self {
        OllamaSettings {
            base_url: "http://127.0.0.1:11434".into(),
            model: String::new(),
            first_token_timeout_ms: 60_000,
            max_prompt_tokens: 3072,
        }
    }
}

/// `[generation.openai]`: any OpenAI-compatible `/chat/completions` with SSE streaming.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct OpenAiSettings {
    /// Up to and including the version segment, e.g. `https://api.openai.com/v1`.
    pub base_url: String,
    /// e.g. `gpt-4o-mini`; empty = provider not configured.
    pub model: String,
    /// Bearer key; unset reads `OPENAI_API_KEY`. Never logged.
    pub api_key: Option<String>,
    pub first_token_timeout_ms: u64,
    /// Prompt budget in approximate tokens (4 characters each).
    pub max_prompt_tokens: usize,
}

impl Default for OpenAiSettings {
    fn default() -> Self {
        OpenAiSettings {
            base_url: "https://api.openai.com/v1".into(),
            model: String::new(),
            api_key: None,
            first_token_timeout_ms: 60_000,
            max_prompt_tokens: 3072,
        }
    }
}

impl OpenAiSettings {
    /// The configured key, else `OPENAI_API_KEY` from `env`.
    pub fn resolved_api_key(&self, env: impl Fn(&str) -> Option<String>) -> Option<String> {
        self.api_key
            .clone()
            .filter(|k| !k.is_empty())
            .or_else(|| env(OPENAI_KEY_ENV).filter(|k| !k.is_empty()))
    }
}
