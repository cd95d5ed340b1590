//! Which forward pass runs the embedded model, behind one small interface for the decoding
//! loop: ragmesh's own llama forward (`model/`, the default: f32 prompt, Q8_0 decode,
//! preallocated cache) or candle's `quantized_llama` (the earlier engine, kept behind
//! `generation.engine = "candle"` for comparison and as a way back). The native engine can
//! keep the keys and values of the prompt's fixed beginning (chat markup and system turn,
//! identical in every RAG prompt) and start each request from a copy of them.

use super::model::{KvCache, Llama};
use candle_core::{Device, Result, Tensor};
use candle_transformers::models::quantized_llama::ModelWeights;

/// The engine of the embedded backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EngineKind {
    /// ragmesh's own llama forward (dense f32 prompt pass, Q8_0 decode).
    #[default]
    Native,
    /// candle's `quantized_llama` (Q8_0 or the file's quantization for everything).
    Candle,
}

impl EngineKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EngineKind::Native => "native",
            EngineKind::Candle => "candle",
        }
    }
}

/// Loaded weights of either engine.
pub enum Weights {
    Native(Llama, Option<Prefix>),
    Candle(ModelWeights),
}

/// The keys and values of a prompt beginning shared by every request.
pub struct Prefix {
    tokens: Vec<u32>,
    cache: KvCache,
}

/// One request's state: the weights it reads and its key/value cache.
pub enum Session<'a> {
    Native {
        model: &'a Llama,
        prefix: Option<&'a Prefix>,
        cache: KvCache,
    },
    Candle {
        model: Box<ModelWeights>,
        pos: usize,
    },
}

impl Weights {
    /// Computes and keeps the keys and values of `tokens`, which every prompt that starts with
    /// them will reuse (native engine only; candle's ignores it).
    pub fn keep_prefix(&mut self, tokens: Vec<u32>) -> Result<()> {
        if let Weights::Native(model, prefix) = self {
            let mut cache = model.new_cache(tokens.len())?;
            model.prefill(&tokens, &mut cache)?;
            *prefix = Some(Prefix { tokens, cache });
        }
        Ok(())
    }

    /// Tokens of the kept prefix (0 when none).
    pub fn prefix_len(&self) -> usize {
        match self {
            Weights::Native(_, Some(prefix)) => prefix.tokens.len(),
            _ => 0,
        }
    }

    /// A fresh session with room for `capacity` positions.
    pub fn session(&self, capacity: usize) -> Result<Session<'_>> {
        Ok(match self {
            Weights::Native(model, prefix) => Session::Native {
                model,
                prefix: prefix.as_ref(),
                cache: model.new_cache(capacity)?,
            },
            // A clone shares the weight tensors (Arc) and starts with an empty KV cache.
            Weights::Candle(model) => Session::Candle {
                model: Box::new(model.clone()),
                pos: 0,
            },
        })
    }
}

impl Session<'_> {
    /// Feeds the prompt to a fresh session, starting from the kept prefix when the prompt
    /// begins with it; the logits of its last token, `(vocab,)`.
    pub fn prefill(&mut self, tokens: &[u32]) -> Result<Tensor> {
        match self {
            Session::Native {
                model,
                prefix,
                cache,
            } => {
                let mut rest = tokens;
                if let Some(prefix) = prefix
                    && tokens.len() > prefix.tokens.len()
                    && tokens.starts_with(&prefix.tokens)
                {
                    cache.copy_prefix(&prefix.cache, prefix.tokens.len())?;
                    rest = &tokens[prefix.tokens.len()..];
                }
                model.prefill(rest, cache)
            }
            Session::Candle { .. } => self.forward(tokens),
        }
    }

    /// Feeds `tokens` after what the session has seen; the logits of the last, `(vocab,)`.
    pub fn forward(&mut self, tokens: &[u32]) -> Result<Tensor> {
        match self {
            Session::Native { model, cache, .. } => model.forward(tokens, cache),
            Session::Candle { model, pos } => {
                let input = Tensor::new(tokens, &Device::Cpu)?.unsqueeze(0)?;
                let logits = model.forward(&input, *pos)?;
                *pos += tokens.len();
                logits.squeeze(0)
            }
        }
    }
}
