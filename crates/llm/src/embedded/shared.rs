//! What every request of one embedded model shares: the options it was loaded with, the
//! weights, the tokenizer, the chat format and the progress counters — and how a request
//! becomes that model's prompt. A leaf of `embedded/`: the generator builds it, the decoding
//! loop reads it, and neither imports the other.

use super::engine::{EngineKind, Weights};
use super::guards::AnswerGuards;
use super::tokenizer::GgufTokenizer;
use crate::LlmError;
use crate::generator::{Context, GenerationRequest};
use crate::packing::{PackedPrompt, PromptPacker};
use crate::template::{ChatFormat, PromptTemplate};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize};

/// How the embedded backend loads and decodes.
#[derive(Debug, Clone)]
pub struct EmbeddedOptions {
    pub gguf_path: PathBuf,
    /// Which forward pass runs the model.
    pub engine: EngineKind,
    /// Re-quantize weight matrices to Q8_0 at load (faster CPU kernels than Q4_1); candle's
    /// engine only, the native one always decodes on Q8_0.
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
    /// Limits against looping and run-on answers.
    pub guards: AnswerGuards,
    /// Native engine: compute the keys and values of the prompt's fixed beginning (chat markup
    /// and system turn) once at load and start every request from them.
    pub reuse_prompt_prefix: bool,
}

impl EmbeddedOptions {
    /// Defaults for `gguf_path` (the values of the shipped configuration).
    pub fn new(gguf_path: impl Into<PathBuf>) -> Self {
        EmbeddedOptions {
            gguf_path: gguf_path.into(),
            engine: EngineKind::Native,
            requantize_q8: true,
            threads: 0,
            max_prompt_tokens: 1536,
            max_new_tokens: 256,
            repeat_penalty: 1.1,
            repeat_last_n: 64,
            prompt: PromptTemplate::default(),
            guards: AnswerGuards::default(),
            reuse_prompt_prefix: true,
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
    pub weights: Weights,
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

    /// The tokens every RAG prompt of this model starts with: the common beginning of two
    /// unrelated prompts, cut back to its last line break so that the first context cannot
    /// merge with it into other tokens.
    pub fn fixed_prompt_prefix(&self) -> Result<Vec<u32>, LlmError> {
        let probe = |query: &str, source: &str, text: &str| -> Result<Vec<u32>, LlmError> {
            let request = GenerationRequest {
                query: query.into(),
                contexts: vec![Context {
                    index: 1,
                    source: source.into(),
                    text: text.into(),
                }],
                ..GenerationRequest::default()
            };
            self.tokenizer.encode(&self.pack(&request)?.text)
        };
        let a = probe("Which river is longest?", "a.txt", "One two.")?;
        let b = probe("Who wrote it?", "zeta.md", "Quite different words.")?;
        let common = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
        let end = (0..common)
            .rev()
            .find(|&i| self.tokenizer.token_bytes(a[i]).ends_with(b"\n"))
            .map_or(0, |i| i + 1);
        Ok(a[..end].to_vec())
    }
}
