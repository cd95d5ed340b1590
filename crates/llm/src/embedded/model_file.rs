//! Loading a llama-family GGUF for either engine: ragmesh's own forward (`model::load`), or
//! candle's `quantized_llama::ModelWeights`, optionally re-quantizing its weight matrices to
//! Q8_0 first: candle's CPU kernels for Q8_0 are several times faster than for the Q4_1 the
//! default model ships in, at ~1 s of load time.

use super::engine::{EngineKind, Weights};
use super::model;
use super::tokenizer::GgufTokenizer;
use crate::LlmError;
use candle_core::quantized::{GgmlDType, QTensor, gguf_file};
use candle_core::{Device, Tensor};
use candle_transformers::models::quantized_llama::ModelWeights;
use rayon::prelude::*;
use std::io::Cursor;
use std::path::Path;

/// Weights with the tokenizer and chat template read from the same file.
pub struct LoadedModel {
    pub weights: Weights,
    pub tokenizer: GgufTokenizer,
    /// `tokenizer.chat_template` (Jinja source) when the file has one.
    pub chat_template: Option<String>,
    /// Weight matrices rewritten to Q8_0 (0 when re-quantization was off).
    pub requantized: usize,
}

fn invalid(path: &Path, reason: impl std::fmt::Display) -> LlmError {
    LlmError::InvalidModel {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

/// Reads `path` for `engine`. For candle's, with `requantize_q8`, rewrites quantized 2-D
/// tensors to Q8_0 before building the model (the native engine always decodes on Q8_0).
/// Run it on the pool that should do the conversion work.
pub fn load(path: &Path, engine: EngineKind, requantize_q8: bool) -> Result<LoadedModel, LlmError> {
    let mut file = std::fs::File::open(path).map_err(|source| LlmError::ModelFile {
        path: path.to_path_buf(),
        source,
    })?;
    let content = gguf_file::Content::read(&mut file).map_err(|e| invalid(path, e))?;
    let arch = content
        .metadata
        .get("general.architecture")
        .and_then(|v| v.to_string().ok())
        .cloned()
        .unwrap_or_default();
    if arch != "llama" {
        return Err(invalid(path, format!("architecture {arch:?} is not llama")));
    }
    let tokenizer = GgufTokenizer::from_gguf(&content)?;
    let chat_template = content
        .metadata
        .get("tokenizer.chat_template")
        .and_then(|v| v.to_string().ok())
        .cloned();
    let device = Device::Cpu;
    if engine == EngineKind::Native {
        let weights = model::load(&content, &mut file, path)?;
        return Ok(LoadedModel {
            weights: Weights::Native(weights, None),
            tokenizer,
            chat_template,
            requantized: 0,
        });
    }
    if !requantize_q8 {
        let weights =
            ModelWeights::from_gguf(content, &mut file, &device).map_err(|e| invalid(path, e))?;
        return Ok(LoadedModel {
            weights: Weights::Candle(weights),
            tokenizer,
            chat_template,
            requantized: 0,
        });
    }

    let mut names: Vec<&String> = content.tensor_infos.keys().collect();
    names.sort();
    let originals = names
        .iter()
        .map(|name| {
            content
                .tensor(&mut file, name, &device)
                .map_err(|e| invalid(path, e))
        })
        .collect::<Result<Vec<QTensor>, _>>()?;
    let converted = originals
        .into_par_iter()
        .map(to_q8_0)
        .collect::<Result<Vec<(QTensor, bool)>, _>>()?;
    let requantized = converted.iter().filter(|(_, changed)| *changed).count();

    // Alignment is rewritten by the writer (32 bytes), so the old value must not be copied.
    let metadata: Vec<(&str, &gguf_file::Value)> = content
        .metadata
        .iter()
        .filter(|(k, _)| k.as_str() != "general.alignment")
        .map(|(k, v)| (k.as_str(), v))
        .collect();
    let tensors: Vec<(&str, &QTensor)> = names
        .iter()
        .zip(&converted)
        .map(|(name, (tensor, _))| (name.as_str(), tensor))
        .collect();
    let mut buffer = Cursor::new(Vec::new());
    gguf_file::write(&mut buffer, &metadata, &tensors)?;
    drop(tensors);
    drop(converted);
    buffer.set_position(0);
    let rewritten = gguf_file::Content::read(&mut buffer)?;
    let weights = ModelWeights::from_gguf(rewritten, &mut buffer, &device)?;
    Ok(LoadedModel {
        weights: Weights::Candle(weights),
        tokenizer,
        chat_template,
        requantized,
    })
}

/// A quantized matrix re-quantized to Q8_0 (and whether it changed); anything else as it is.
fn to_q8_0(tensor: QTensor) -> Result<(QTensor, bool), LlmError> {
    let dtype = tensor.dtype();
    let keep = matches!(
        dtype,
        GgmlDType::F32 | GgmlDType::F16 | GgmlDType::BF16 | GgmlDType::Q8_0
    ) || tensor.rank() != 2
        || !tensor.shape().dims()[1].is_multiple_of(GgmlDType::Q8_0.block_size());
    if keep {
        return Ok((tensor, false));
    }
    let dense: Tensor = tensor.dequantize(&Device::Cpu)?;
    Ok((QTensor::quantize(&dense, GgmlDType::Q8_0)?, true))
}
