//! The hyperparameters of a llama-family GGUF, read from its metadata (`llama.*` keys), with
//! the checks that tell a model this forward cannot run (partial rotary, experts) by name.

use crate::LlmError;
use candle_core::quantized::gguf_file;
use std::path::Path;

/// What the forward needs to know about the network's shape.
#[derive(Debug, Clone, PartialEq)]
pub struct LlamaConfig {
    pub n_layer: usize,
    pub n_embd: usize,
    pub n_head: usize,
    pub n_kv_head: usize,
    pub head_dim: usize,
    pub n_ff: usize,
    pub rms_eps: f32,
    pub rope_base: f32,
}

impl LlamaConfig {
    pub fn from_gguf(content: &gguf_file::Content, path: &Path) -> Result<Self, LlmError> {
        let invalid = |reason: String| LlmError::InvalidModel {
            path: path.to_path_buf(),
            reason,
        };
        let get_u32 = |key: &str| -> Result<usize, LlmError> {
            content
                .metadata
                .get(key)
                .and_then(|v| v.to_u32().ok())
                .map(|v| v as usize)
                .ok_or_else(|| invalid(format!("metadata {key} is missing or not a number")))
        };
        let n_embd = get_u32("llama.embedding_length")?;
        let n_head = get_u32("llama.attention.head_count")?;
        let n_kv_head = get_u32("llama.attention.head_count_kv")?;
        if n_head == 0 || n_kv_head == 0 || n_head % n_kv_head != 0 || n_embd % n_head != 0 {
            return Err(invalid(format!(
                "{n_head} heads, {n_kv_head} key/value heads and width {n_embd} do not fit together"
            )));
        }
        let head_dim = n_embd / n_head;
        let rope_dim = get_u32("llama.rope.dimension_count").unwrap_or(head_dim);
        if rope_dim != head_dim {
            return Err(invalid(format!(
                "rotary embedding over {rope_dim} of {head_dim} head dimensions is not supported"
            )));
        }
        if get_u32("llama.expert_count").unwrap_or(0) > 1 {
            return Err(invalid(
                "mixture-of-experts models are not supported".into(),
            ));
        }
        let rms_eps = content
            .metadata
            .get("llama.attention.layer_norm_rms_epsilon")
            .and_then(|v| v.to_f32().ok())
            .ok_or_else(|| {
                invalid("metadata llama.attention.layer_norm_rms_epsilon is missing".into())
            })?;
        let rope_base = content
            .metadata
            .get("llama.rope.freq_base")
            .and_then(|v| v.to_f32().ok())
            .unwrap_or(10_000.0);
        Ok(LlamaConfig {
            n_layer: get_u32("llama.block_count")?,
            n_embd,
            n_head,
            n_kv_head,
            head_dim,
            n_ff: get_u32("llama.feed_forward_length")?,
            rms_eps,
            rope_base,
        })
    }

    /// Query heads that share one key/value head.
    pub fn n_rep(&self) -> usize {
        self.n_head / self.n_kv_head
    }

    /// Width of the key (and of the value) projection.
    pub fn kv_dim(&self) -> usize {
        self.n_kv_head * self.head_dim
    }
}
