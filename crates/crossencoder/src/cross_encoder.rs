//! The cross-encoder itself: loads a checkpoint directory and scores one query against many
//! passages. Pairs are grouped by length before batching so a batch pads little, and the
//! scores come back in the caller's order.

use crate::CrossEncoderError;
use crate::checkpoint::{CheckpointFiles, load_tensors};
use crate::config::ModelConfig;
use crate::head::ClassificationHead;
use crate::pairs::PairEncoder;
use candle_core::{DType, Device};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::BertModel;
use std::path::Path;

/// Pairs per forward pass unless [`CrossEncoder::with_batch_size`] says otherwise.
pub const DEFAULT_BATCH_SIZE: usize = 16;

/// A BERT sequence-classification cross-encoder (ms-marco-MiniLM-L-6-v2 layout) on the CPU.
/// Runs its matrix products on the rayon pool it is called from.
pub struct CrossEncoder {
    bert: BertModel,
    head: ClassificationHead,
    pairs: PairEncoder,
    name: String,
    max_length: usize,
    batch_size: usize,
    device: Device,
}

impl std::fmt::Debug for CrossEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CrossEncoder")
            .field("name", &self.name)
            .field("max_length", &self.max_length)
            .field("batch_size", &self.batch_size)
            .finish_non_exhaustive()
    }
}

impl CrossEncoder {
    /// Loads `config.json`, `model.safetensors` and `tokenizer.json` from `model_dir`.
    /// Pairs are cut to `max_length` tokens, capped by the model's position embeddings.
    pub fn load(model_dir: &Path, max_length: usize) -> Result<CrossEncoder, CrossEncoderError> {
        let files = CheckpointFiles::locate(model_dir)?;
        let config = ModelConfig::read(&files.config)?;
        let max_length = max_length.min(config.bert.max_position_embeddings);
        if max_length < 4 {
            return Err(CrossEncoderError::MaxLengthTooSmall(max_length));
        }
        let device = Device::Cpu;
        let tensors = load_tensors(&files.weights, &device)?;
        let num_labels = tensors
            .get("classifier.weight")
            .map(|w| w.dims().first().copied().unwrap_or(0))
            .unwrap_or(0);
        if num_labels == 0 {
            return Err(CrossEncoderError::Weights {
                path: files.weights.clone(),
                message: "classifier.weight has no labels".into(),
            });
        }
        let weights_error = |e: candle_core::Error| CrossEncoderError::Weights {
            path: files.weights.clone(),
            message: e.to_string(),
        };
        let vb = VarBuilder::from_tensors(tensors, DType::F32, &device);
        let bert = BertModel::load(vb.clone(), &config.bert).map_err(weights_error)?;
        let head = ClassificationHead::load(vb, config.bert.hidden_size, num_labels)
            .map_err(weights_error)?;
        let pairs = PairEncoder::load(&files.tokenizer, max_length)?;
        let name = model_name(model_dir, config.name_or_path.as_deref());
        tracing::info!(model = %name, max_length, num_labels, "cross-encoder loaded");
        Ok(CrossEncoder {
            bert,
            head,
            pairs,
            name,
            max_length,
            batch_size: DEFAULT_BATCH_SIZE,
            device,
        })
    }

    /// Pairs per forward pass (at least 1).
    pub fn with_batch_size(mut self, batch_size: usize) -> CrossEncoder {
        self.batch_size = batch_size.max(1);
        self
    }

    /// The raw label-0 logit of every (query, passage) pair, in the order of `passages`.
    /// Higher means more relevant.
    pub fn score(&self, query: &str, passages: &[&str]) -> Result<Vec<f32>, CrossEncoderError> {
        let encoded = self.pairs.encode(query, passages)?;
        // Longest first, so each batch holds pairs of similar length.
        let mut order: Vec<usize> = (0..encoded.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(encoded[i].ids.len()));
        let mut scores = vec![0f32; encoded.len()];
        for chunk in order.chunks(self.batch_size) {
            let pairs: Vec<_> = chunk.iter().map(|&i| &encoded[i]).collect();
            let batch = self.pairs.batch(&pairs, &self.device)?;
            let sequence_output = self.bert.forward(
                &batch.input_ids,
                &batch.token_type_ids,
                Some(&batch.attention_mask),
            )?;
            let logits: Vec<f32> = self.head.forward(&sequence_output)?.to_vec1()?;
            for (&i, logit) in chunk.iter().zip(logits) {
                scores[i] = logit;
            }
        }
        Ok(scores)
    }

    /// The model's name: `_name_or_path` from config.json when it is a hub-style id, else
    /// the directory name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Tokens per pair after capping by the model's position embeddings.
    pub fn max_length(&self) -> usize {
        self.max_length
    }
}

fn model_name(dir: &Path, name_or_path: Option<&str>) -> String {
    // A local path recorded at training time (`/home/x/out`, `./ckpt`) names nothing useful.
    let hub_id = name_or_path.filter(|n| !n.starts_with(['/', '.', '~']) && !n.contains('\\'));
    if let Some(id) = hub_id {
        return id.to_string();
    }
    dir.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| dir.display().to_string())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn names_prefer_hub_ids_over_directory_names() {
        let dir = Path::new("/models/ms-marco");
        assert_eq!(
            model_name(dir, Some("cross-encoder/ms-marco-MiniLM-L-6-v2")),
            "cross-encoder/ms-marco-MiniLM-L-6-v2"
        );
        assert_eq!(model_name(dir, Some("/tmp/train/out")), "ms-marco");
        assert_eq!(model_name(dir, Some("./out")), "ms-marco");
        assert_eq!(model_name(dir, None), "ms-marco");
    }
}
