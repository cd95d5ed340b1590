//! Text generation for ragmesh: the backend-neutral [`Generator`] trait (streaming, cancellable
//! by dropping the stream) and its backends, all packing the configurable RAG prompt into a
//! token budget.
//!
//! - `generator` — the trait and what a caller asks and gets back; `error` — the one error type.
//! - `template/` — the RAG wording and the chat formats, with a GGUF's own Jinja chat template
//!   rendered by minijinja.
//! - `packing` — fitting the system turn, numbered contexts and question into a token budget.
//! - `embedded/` — a llama-family GGUF model run in-process (ragmesh's own forward on candle
//!   tensors, or candle's `quantized_llama`), with the tokenizer rebuilt from the GGUF metadata.
//! - `remote/` — one generic HTTP generator and the protocols it speaks: Ollama (`/api/chat`,
//!   NDJSON) and OpenAI-compatible servers (`/chat/completions`, SSE).

mod embedded;
mod error;
mod generator;
mod packing;
mod remote;
mod template;

pub use embedded::{
    AnswerGuards, EmbeddedGenerator, EmbeddedOptions, EngineKind, GgufTokenizer, Utf8Stream,
    load_tokenizer,
};
pub use error::{LlmError, RemoteFailure};
pub use generator::{
    Context, FinishReason, GenerationEvent, GenerationRequest, GenerationStats, Generator,
};
pub use packing::{PackedPrompt, PromptPacker, RagTurns, TokenCounter};
pub use remote::{
    ApproxTokenCounter, Chunk, Framing, Ollama, OllamaGenerator, OllamaOptions, OpenAi,
    OpenAiGenerator, OpenAiOptions, Protocol, RemoteGenerator, RemoteOptions,
};
pub use template::{
    CONTEXT_FORMAT, ChatFormat, ChatMessage, ChatTemplate, FormatSource, JinjaTemplate,
    PromptTemplate, SYSTEM_PROMPT, TemplateError,
};
