//! ragmesh's own forward pass for llama-family GGUF models (SmolLM2, Llama, TinyLlama...),
//! written because candle's `quantized_llama` runs prompts through its Q8_0 kernels, which on
//! CPU prefill at less than half the speed of candle's own f32 gemm, and grows its key/value
//! cache by concatenation on every token. Here a prompt batch runs on dense f32 weights, a
//! decoded token on Q8_0 copies of the same weights (`linear`), keys and values go into a cache
//! allocated once per request (`cache`), grouped-query attention reads that cache without
//! repeating it per head, and the prefix of a prompt can be computed once and reused.
//!
//! - `config` — the hyperparameters from the GGUF metadata.
//! - `load` — weights from the file: dense, fused and Q8_0 copies, rotary tables.
//! - `linear` — one weight matrix, two kernels.
//! - `cache` — the preallocated key/value cache.

mod cache;
mod config;
mod linear;
mod load;
#[cfg(test)]
mod tests;

pub use cache::KvCache;
pub use load::{MAX_POSITIONS, load};

use candle_core::quantized::QMatMul;
use candle_core::{D, Device, Module, Result, Tensor};
use candle_nn::ops::{rms_norm, softmax_last_dim};
use candle_nn::rotary_emb::rope_i;
use config::LlamaConfig;
use linear::{DENSE_MIN_ROWS, Linear};

/// One transformer block.
#[derive(Debug, Clone)]
pub struct Layer {
    attn_norm: Tensor,
    /// Query, key and value projections stacked: `(n_embd + 2 kv_dim, n_embd)`.
    qkv: Linear,
    wo: Linear,
    ffn_norm: Tensor,
    /// Gate and up projections stacked: `(2 n_ff, n_embd)`.
    gate_up: Linear,
    down: Linear,
}

/// The weights of one model, shared by every request (tensors are reference counted).
#[derive(Debug, Clone)]
pub struct Llama {
    config: LlamaConfig,
    /// `(vocab, n_embd)` f32.
    embedding: Tensor,
    layers: Vec<Layer>,
    norm: Tensor,
    lm_head: QMatMul,
    /// `(MAX_POSITIONS, head_dim / 2)`.
    cos: Tensor,
    sin: Tensor,
}

/// `(seq, kv_len)`: 0 where query `i` (at position `pos + i`) may see key `j`, -inf after it.
fn causal_mask(seq: usize, pos: usize) -> Result<Tensor> {
    let kv_len = pos + seq;
    let mask: Vec<f32> = (0..seq)
        .flat_map(|i| (0..kv_len).map(move |j| if j > pos + i { f32::NEG_INFINITY } else { 0.0 }))
        .collect();
    Tensor::from_vec(mask, (seq, kv_len), &Device::Cpu)
}

impl Llama {
    #[cfg(test)]
    pub fn config(&self) -> &LlamaConfig {
        &self.config
    }

    /// A cache for `capacity` positions of this model.
    pub fn new_cache(&self, capacity: usize) -> Result<KvCache> {
        KvCache::new(&self.config, capacity)
    }

    /// Runs `tokens` at the positions after those already in `cache`, writes their keys and
    /// values there and returns the logits of the last token, `(vocab,)`. Batches of
    /// [`DENSE_MIN_ROWS`] or more run on the dense weights, smaller ones on the Q8_0 copies.
    pub fn forward(&self, tokens: &[u32], cache: &mut KvCache) -> Result<Tensor> {
        self.run(tokens, cache, tokens.len() >= DENSE_MIN_ROWS)
    }

    /// [`Llama::forward`] on the dense weights whatever the length: a prompt (or the rest of
    /// one after a reused prefix) gives the same numbers however it is split.
    pub fn prefill(&self, tokens: &[u32], cache: &mut KvCache) -> Result<Tensor> {
        self.run(tokens, cache, true)
    }

    fn run(&self, tokens: &[u32], cache: &mut KvCache, dense: bool) -> Result<Tensor> {
        let seq = tokens.len();
        let pos = cache.len();
        if seq == 0 {
            candle_core::bail!("forward needs at least one token");
        }
        if pos + seq > MAX_POSITIONS {
            candle_core::bail!("position {} is past {MAX_POSITIONS}", pos + seq);
        }
        let c = &self.config;
        let (hd, n_kv, n_rep) = (c.head_dim, c.n_kv_head, c.n_rep());
        let q_dim = c.n_embd;
        let kv_dim = c.kv_dim();
        let kv_len = pos + seq;
        let scale = 1.0 / (hd as f64).sqrt();

        let ids = Tensor::new(tokens, &Device::Cpu)?;
        let mut x = self.embedding.index_select(&ids, 0)?;
        // Each position is its own "batch" of the rotary kernel: (seq, heads, 1, head_dim).
        let cos = self.cos.narrow(0, pos, seq)?.reshape((seq, 1, hd / 2))?;
        let sin = self.sin.narrow(0, pos, seq)?.reshape((seq, 1, hd / 2))?;
        let mask = if seq > 1 {
            Some(causal_mask(seq, pos)?)
        } else {
            None
        };
        for (index, layer) in self.layers.iter().enumerate() {
            let h = rms_norm(&x, &layer.attn_norm, c.rms_eps)?;
            let qkv = layer.qkv.forward(&h, dense)?;
            let q = qkv
                .narrow(1, 0, q_dim)?
                .contiguous()?
                .reshape((seq, c.n_head, 1, hd))?;
            let q = (rope_i(&q, &cos, &sin)? * scale)?;
            let k = qkv
                .narrow(1, q_dim, kv_dim)?
                .contiguous()?
                .reshape((seq, n_kv, 1, hd))?;
            let k = rope_i(&k, &cos, &sin)?.reshape((seq, n_kv, hd))?;
            let v = qkv
                .narrow(1, q_dim + kv_dim, kv_dim)?
                .contiguous()?
                .reshape((seq, n_kv, hd))?;
            cache.write(index, &k, &v)?;
            let (keys, values) = cache.view(index, kv_len)?;
            // (kv heads, head_dim, kv_len) and (kv heads, kv_len, head_dim), both views.
            let keys_t = keys.transpose(0, 1)?.transpose(1, 2)?;
            let values = values.transpose(0, 1)?;
            // The query heads of one key/value head are consecutive: attend as one matrix.
            let q = if seq == 1 {
                q.reshape((n_kv, n_rep, hd))?
            } else {
                q.reshape((seq, n_kv, n_rep, hd))?
                    .permute((1, 2, 0, 3))?
                    .contiguous()?
                    .reshape((n_kv, n_rep * seq, hd))?
            };
            let att = q.matmul(&keys_t)?;
            let att = match &mask {
                Some(mask) => att
                    .reshape((n_kv, n_rep, seq, kv_len))?
                    .broadcast_add(mask)?
                    .reshape((n_kv, n_rep * seq, kv_len))?,
                None => att,
            };
            let att = softmax_last_dim(&att)?;
            let y = att.matmul(&values)?;
            let y = if seq == 1 {
                y.reshape((1, q_dim))?
            } else {
                y.reshape((c.n_head, seq, hd))?
                    .transpose(0, 1)?
                    .contiguous()?
                    .reshape((seq, q_dim))?
            };
            let x1 = (x + layer.wo.forward(&y, dense)?)?;
            let h = rms_norm(&x1, &layer.ffn_norm, c.rms_eps)?;
            let gate_up = layer.gate_up.forward(&h, dense)?;
            let gate = gate_up.narrow(D::Minus1, 0, c.n_ff)?;
            let up = gate_up.narrow(D::Minus1, c.n_ff, c.n_ff)?;
            let act = (candle_nn::ops::silu(&gate)? * up)?;
            x = (x1 + layer.down.forward(&act, dense)?)?;
        }
        cache.advance(seq);
        let last = x.narrow(0, seq - 1, 1)?;
        let last = rms_norm(&last, &self.norm, c.rms_eps)?;
        self.lm_head.forward(&last)?.squeeze(0)
    }
}
