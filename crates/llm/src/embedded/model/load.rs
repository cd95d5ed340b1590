//! Building [`super::Llama`] from a GGUF: every weight matrix is dequantized to f32 (the prompt
//! path) and re-quantized to Q8_0 (the decode path); the query, key and value projections are
//! fused into one matrix, and so are the gate and up projections, so a layer runs four matrix
//! products instead of seven. The output head is the file's `output.weight`, or the token
//! embeddings when the model ties them.

use super::config::LlamaConfig;
use super::linear::Linear;
use super::{Layer, Llama};
use crate::LlmError;
use candle_core::quantized::{GgmlDType, QMatMul, QTensor, gguf_file};
use candle_core::{Device, Tensor};
use rayon::prelude::*;
use std::io::{Read, Seek};
use std::path::Path;

/// Largest position the rotary tables cover.
pub const MAX_POSITIONS: usize = 4096;

fn invalid(path: &Path, reason: impl std::fmt::Display) -> LlmError {
    LlmError::InvalidModel {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

/// The raw tensors of one layer, read from the file (reading is sequential).
struct RawLayer {
    attn_norm: QTensor,
    q: QTensor,
    k: QTensor,
    v: QTensor,
    o: QTensor,
    ffn_norm: QTensor,
    gate: QTensor,
    up: QTensor,
    down: QTensor,
}

/// Reads the model from `content` (already parsed from `reader`). Run it on the pool that
/// should do the conversion work.
pub fn load<R: Read + Seek>(
    content: &gguf_file::Content,
    reader: &mut R,
    path: &Path,
) -> Result<Llama, LlmError> {
    let config = LlamaConfig::from_gguf(content, path)?;
    let device = Device::Cpu;
    let mut tensor = |name: &str| {
        content
            .tensor(reader, name, &device)
            .map_err(|e| invalid(path, format!("tensor {name}: {e}")))
    };
    let embedding = tensor("token_embd.weight")?;
    let norm = tensor("output_norm.weight")?;
    let output = if content.tensor_infos.contains_key("output.weight") {
        Some(tensor("output.weight")?)
    } else {
        None
    };
    let mut raw = Vec::with_capacity(config.n_layer);
    for i in 0..config.n_layer {
        let mut t = |suffix: &str| tensor(&format!("blk.{i}.{suffix}.weight"));
        raw.push(RawLayer {
            attn_norm: t("attn_norm")?,
            q: t("attn_q")?,
            k: t("attn_k")?,
            v: t("attn_v")?,
            o: t("attn_output")?,
            ffn_norm: t("ffn_norm")?,
            gate: t("ffn_gate")?,
            up: t("ffn_up")?,
            down: t("ffn_down")?,
        });
    }
    let layers = raw
        .into_par_iter()
        .map(|l| build_layer(l, &device))
        .collect::<Result<Vec<Layer>, candle_core::Error>>()
        .map_err(|e| invalid(path, e))?;

    let embedding_dense = embedding.dequantize(&device)?;
    let (_, width) = embedding_dense.dims2()?;
    if width != config.n_embd {
        return Err(invalid(
            path,
            format!("token embeddings are {width} wide, not {}", config.n_embd),
        ));
    }
    let head = match output {
        Some(output) => output,
        None => embedding,
    };
    let lm_head = match head.dtype() {
        GgmlDType::Q8_0 => QMatMul::from_qtensor(head)?,
        _ => QMatMul::from_qtensor(QTensor::quantize(
            &head.dequantize(&device)?,
            GgmlDType::Q8_0,
        )?)?,
    };
    let (cos, sin) = rotary_tables(&config, &device)?;
    Ok(Llama {
        embedding: embedding_dense,
        layers,
        norm: norm.dequantize(&device)?,
        lm_head,
        cos,
        sin,
        config,
    })
}

fn build_layer(raw: RawLayer, device: &Device) -> candle_core::Result<Layer> {
    let dense = |t: &QTensor| t.dequantize(device);
    let qkv = Tensor::cat(&[dense(&raw.q)?, dense(&raw.k)?, dense(&raw.v)?], 0)?;
    let gate_up = Tensor::cat(&[dense(&raw.gate)?, dense(&raw.up)?], 0)?;
    Ok(Layer {
        attn_norm: dense(&raw.attn_norm)?,
        qkv: Linear::new(qkv)?,
        wo: Linear::new(dense(&raw.o)?)?,
        ffn_norm: dense(&raw.ffn_norm)?,
        gate_up: Linear::new(gate_up)?,
        down: Linear::new(dense(&raw.down)?)?,
    })
}

/// cos and sin of every position's rotation angles, `(MAX_POSITIONS, head_dim / 2)`.
fn rotary_tables(config: &LlamaConfig, device: &Device) -> candle_core::Result<(Tensor, Tensor)> {
    let half = config.head_dim / 2;
    let inv_freq: Vec<f32> = (0..half)
        .map(|i| {
            1.0 / config
                .rope_base
                .powf(2.0 * i as f32 / config.head_dim as f32)
        })
        .collect();
    let mut angles = Vec::with_capacity(MAX_POSITIONS * half);
    for pos in 0..MAX_POSITIONS {
        angles.extend(inv_freq.iter().map(|f| pos as f32 * f));
    }
    let angles = Tensor::from_vec(angles, (MAX_POSITIONS, half), device)?;
    Ok((angles.cos()?, angles.sin()?))
}
