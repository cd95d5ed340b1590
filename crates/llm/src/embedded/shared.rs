//! What every request of one embedded model shares: the options it was loaded with, the
//! weights, the tokenizer, the chat format and the progress counters — and how a request
//! becomes that model's prompt. A leaf of `embedded/`: the generator builds it, the decoding
//! loop reads it, and neither imports the other.

use super::tokenizer::GgufTokenizer;
use crate::LlmError;
use crate::generator::GenerationRequest;
use crate::packing::{PackedPrompt, PromptPacker};
use crate::template::{ChatFormat, PromptTemplate};
use candle_transformers::models::quantized_llama::ModelWeights;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize};

/// How the embedded backend loads and decodes.
#[derive(Debug, Clone)]
pub struct EmbeddedOptions {
    pub gguf_path: PathBuf,
    /// Re-quantize weight matrices to Q8_0 at load (faster CPU kernels than Q4_1).
    pub requantize_q8: bool,
    /// Threads of this backend's rayon pool (0 = number of cores).
    pub threads: usize,
    /// Largest prompt in tokens, contexts included.
    pub max_prompt_tokens: usize,
    /// Default cap on generated tokens.
    pub max_new_tokens: usize,
    pub repeat_penalty: f32,
    /// Generated tokens looked back for the repeat penalty.
    pub repeat_last_n: usize,
    /// The wording of the RAG prompt.
    pub prompt: PromptTemplate,
}

impl EmbeddedOptions {
    /// Defaults for `gguf_path` (the values of the shipped configuration).
    pub fn new(gguf_path: impl Into<PathBuf>) -> Self {
        EmbeddedOptions {
            gguf_path: gguf_path.into(),
            requantize_q8: true,
            threads: 0,
            max_prompt_tokens: 1536,
            max_new_tokens: 256,
            repeat_penalty: 1.1,
            repeat_last_n: 64,
            prompt: PromptTemplate::default(),
        }
    }
}

/// Progress of one generator, readable while requests run.
#[derive(Debug, Default)]
pub(crate) struct DecodeCounters {
    /// Tokens selected by the decoder (each costs one forward pass), all requests together.
    pub decoded: AtomicU64,
    /// Requests accepted and not yet finished decoding.
    pub active: AtomicUsize,
}

/// What is shared by every request of one embedded model.
pub(crate) struct Shared {
    pub name: String,
    pub weights: ModelWeights,
    pub tokenizer: GgufTokenizer,
    pub template: ChatFormat,
    pub bos_text: String,
    pub stop_ids: Vec<u32>,
    pub options: EmbeddedOptions,
    pub pool: rayon::ThreadPool,
    pub counters: DecodeCounters,
}

impl Shared {
    /// The prompt `request` becomes for this model.
    pub fn pack(&self, request: &GenerationRequest) -> Result<PackedPrompt, LlmError> {
        PromptPacker {
            counter: &self.tokenizer,
            template: self.template.clone(),
            prompt: &self.options.prompt,
            instruction: request.instruction.as_deref(),
            bos: &self.bos_text,
            max_tokens: self.options.max_prompt_tokens,
        }
        .pack(&request.query, &request.contexts)
    }
}
