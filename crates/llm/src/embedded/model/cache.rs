//! The key/value cache of one generation, allocated once for the whole request (prompt plus
//! answer) so that a decoded token writes its keys and values in place instead of
//! concatenating a new cache per token and layer. Rows are positions: `(capacity, kv heads,
//! head dim)` per layer, so appending a batch is one contiguous copy and attention reads a
//! strided view without copying.

use super::config::LlamaConfig;
use candle_core::{DType, Device, Result, Tensor};

#[derive(Debug)]
pub struct KvCache {
    keys: Vec<Tensor>,
    values: Vec<Tensor>,
    len: usize,
    capacity: usize,
}

impl KvCache {
    /// Room for `capacity` positions (zero pages are only touched when written).
    pub fn new(config: &LlamaConfig, capacity: usize) -> Result<Self> {
        let shape = (capacity, config.n_kv_head, config.head_dim);
        let zeros = || Tensor::zeros(shape, DType::F32, &Device::Cpu);
        Ok(KvCache {
            keys: (0..config.n_layer)
                .map(|_| zeros())
                .collect::<Result<_>>()?,
            values: (0..config.n_layer)
                .map(|_| zeros())
                .collect::<Result<_>>()?,
            len: 0,
            capacity,
        })
    }

    /// Positions filled.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Writes `(seq, kv heads, head dim)` keys and values of `layer` from position `len()`.
    pub fn write(&self, layer: usize, keys: &Tensor, values: &Tensor) -> Result<()> {
        let seq = keys.dim(0)?;
        if self.len + seq > self.capacity {
            candle_core::bail!(
                "key/value cache full: {} + {seq} positions > {}",
                self.len,
                self.capacity
            );
        }
        self.keys[layer].slice_set(keys, 0, self.len)?;
        self.values[layer].slice_set(values, 0, self.len)
    }

    /// Keys and values of `layer` for the first `len` positions, `(len, kv heads, head dim)`.
    pub fn view(&self, layer: usize, len: usize) -> Result<(Tensor, Tensor)> {
        Ok((
            self.keys[layer].narrow(0, 0, len)?,
            self.values[layer].narrow(0, 0, len)?,
        ))
    }

    /// Marks `n` more positions as filled (after every layer wrote them).
    pub fn advance(&mut self, n: usize) {
        self.len += n;
    }

    /// Copies the first `len` positions of `other` into this (empty) cache: a prompt prefix
    /// computed once and reused.
    pub fn copy_prefix(&mut self, other: &KvCache, len: usize) -> Result<()> {
        if self.len != 0 || len > other.len || len > self.capacity {
            candle_core::bail!("cannot copy a {len}-position prefix into this cache");
        }
        for (dst, src) in self.keys.iter().zip(&other.keys) {
            dst.slice_set(&src.narrow(0, 0, len)?, 0, 0)?;
        }
        for (dst, src) in self.values.iter().zip(&other.values) {
            dst.slice_set(&src.narrow(0, 0, len)?, 0, 0)?;
        }
        self.len = len;
        Ok(())
    }
}
