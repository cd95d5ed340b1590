//! Text generation for ragmesh: the backend-neutral [`Generator`] trait (streaming, cancellable
//! by dropping the stream) and its three backends — embedded (a llama-family GGUF model on
//! candle with the tokenizer rebuilt from the GGUF metadata), Ollama (`/api/chat`, NDJSON) and
//! OpenAI-compatible (`/chat/completions`, SSE) — all packing the configurable RAG prompt into
//! a token budget.

mod byte_level;
mod chat_template;
mod decode;
mod embedded;
mod error;
mod generator;
mod gguf_tokenizer;
mod jinja_chat;
mod model_file;
mod ollama;
mod openai;
mod prompt;
mod prompt_template;
mod remote;

pub use byte_level::Utf8Stream;
pub use chat_template::{ChatFormat, ChatTemplate, FormatSource};
pub use embedded::{EmbeddedGenerator, EmbeddedOptions};
pub use error::{LlmError, RemoteFailure};
pub use generator::{
    Context, FinishReason, GenerationEvent, GenerationRequest, GenerationStats, Generator,
};
pub use gguf_tokenizer::GgufTokenizer;
pub use jinja_chat::{JinjaTemplate, TemplateError};
pub use ollama::{OllamaGenerator, OllamaOptions};
pub use openai::{OpenAiGenerator, OpenAiOptions};
pub use prompt::{PackedPrompt, PromptPacker, RagTurns, TokenCounter};
pub use prompt_template::{CONTEXT_FORMAT, PromptTemplate, SYSTEM_PROMPT};
pub use remote::ApproxTokenCounter;

/// Reads only the tokenizer of a GGUF file (no weights), e.g. to count prompt tokens.
pub fn load_tokenizer(path: &std::path::Path) -> Result<GgufTokenizer, LlmError> {
    let mut file = std::fs::File::open(path).map_err(|source| LlmError::ModelFile {
        path: path.to_path_buf(),
        source,
    })?;
    let content = candle_core::quantized::gguf_file::Content::read(&mut file).map_err(|e| {
        LlmError::InvalidModel {
            path: path.to_path_buf(),
            reason: e.to_string(),
        }
    })?;
    GgufTokenizer::from_gguf(&content)
}
