//! The remote backends: one generic [`RemoteGenerator`] speaking to an HTTP provider, and the
//! [`Protocol`] of each provider it is instantiated with — Ollama (`/api/chat`, NDJSON) and
//! OpenAI-compatible servers (`/chat/completions`, SSE). `http` is the HTTP side every provider
//! shares, `frames` cuts a streamed body into messages, `token_count` budgets prompts without
//! the provider's tokenizer.

mod frames;
mod generator;
mod http;
mod ollama;
mod openai;
mod protocol;
mod token_count;

pub use generator::RemoteGenerator;
pub use ollama::{Ollama, OllamaOptions};
pub use openai::{OpenAi, OpenAiOptions};
pub use protocol::{Chunk, Framing, Protocol, RemoteOptions};
pub use token_count::ApproxTokenCounter;

/// Answers through an Ollama server.
pub type OllamaGenerator = RemoteGenerator<Ollama>;
/// Answers through an OpenAI-compatible chat completions endpoint.
pub type OpenAiGenerator = RemoteGenerator<OpenAi>;
