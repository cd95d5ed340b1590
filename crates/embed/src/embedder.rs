//! [`Embedder`]: loads all-MiniLM-L6-v2 (BERT weights, config, tokenizer) from a model
//! directory and turns texts into unit-length sentence vectors in one forward pass per call.

use crate::EmbedError;
use crate::pooling::mean_pool_normalised;
use crate::word_pieces::{bare_tokenizer, embedding_tokenizer};
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use std::path::Path;
use std::time::Instant;
use tokenizers::Tokenizer;

/// Word pieces the model reads when its directory does not say (`sentence_bert_config.json`).
const DEFAULT_MAX_TOKENS: usize = 256;

/// A loaded sentence-embedding model. `Send + Sync`: one instance serves all threads.
pub struct Embedder {
    model: BertModel,
    /// Truncates at `max_tokens` and pads to the longest text of a batch.
    tokenizer: Tokenizer,
    /// No truncation or padding: word pieces of whole texts, for the chunker.
    bare_tokenizer: Tokenizer,
    device: Device,
    dim: usize,
    max_tokens: usize,
    name: String,
}

impl std::fmt::Debug for Embedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Embedder")
            .field("name", &self.name)
            .field("dim", &self.dim)
            .field("max_tokens", &self.max_tokens)
            .finish_non_exhaustive()
    }
}

#[derive(serde::Deserialize)]
struct SentenceBertConfig {
    max_seq_length: Option<usize>,
}

impl Embedder {
    /// Loads `config.json`, `model.safetensors`, `tokenizer.json` and (if present)
    /// `sentence_bert_config.json` from `model_dir`.
    pub fn load(model_dir: &Path) -> Result<Embedder, EmbedError> {
        let device = Device::Cpu;
        let config: Config = read_json(&model_dir.join("config.json"))?;
        let st_config = model_dir.join("sentence_bert_config.json");
        let max_tokens = if st_config.is_file() {
            read_json::<SentenceBertConfig>(&st_config)?
                .max_seq_length
                .unwrap_or(DEFAULT_MAX_TOKENS)
        } else {
            DEFAULT_MAX_TOKENS
        }
        .min(config.max_position_embeddings);

        let weights_path = model_dir.join("model.safetensors");
        let weights = std::fs::read(&weights_path).map_err(|e| model_file(&weights_path, e))?;
        let vb = VarBuilder::from_buffered_safetensors(weights, DType::F32, &device)
            .map_err(|e| model_file(&weights_path, e))?;
        let model = BertModel::load(vb, &config).map_err(|e| model_file(&weights_path, e))?;

        let tokenizer_path = model_dir.join("tokenizer.json");
        let tokenizer = embedding_tokenizer(&tokenizer_path, max_tokens)?;
        let bare_tokenizer = bare_tokenizer(&tokenizer_path)?;
        let name = model_dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "all-MiniLM-L6-v2".to_string());
        tracing::info!(model = %name, dim = config.hidden_size, max_tokens, "embedding model loaded");
        Ok(Embedder {
            model,
            tokenizer,
            bare_tokenizer,
            device,
            dim: config.hidden_size,
            max_tokens,
            name,
        })
    }

    /// L2-normalised sentence embeddings, one per text, in order (one forward pass; callers
    /// batch). Texts longer than [`Embedder::max_tokens`] word pieces are truncated, as in
    /// sentence-transformers. An empty list gives an empty list.
    pub fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let start = Instant::now();
        let encodings = self
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| EmbedError::Tokenizer(e.to_string()))?;
        let rows = encodings.len();
        let width = encodings.iter().map(|e| e.len()).max().unwrap_or(0);
        let mut ids = Vec::with_capacity(rows * width);
        let mut type_ids = Vec::with_capacity(rows * width);
        let mut mask = Vec::with_capacity(rows * width);
        for encoding in &encodings {
            if encoding.len() != width {
                return Err(EmbedError::Tokenizer(format!(
                    "padding produced rows of {} and {width} word pieces",
                    encoding.len()
                )));
            }
            ids.extend_from_slice(encoding.get_ids());
            type_ids.extend_from_slice(encoding.get_type_ids());
            mask.extend_from_slice(encoding.get_attention_mask());
        }
        let ids = Tensor::from_vec(ids, (rows, width), &self.device)?;
        let type_ids = Tensor::from_vec(type_ids, (rows, width), &self.device)?;
        let mask = Tensor::from_vec(mask, (rows, width), &self.device)?;
        let hidden = self.model.forward(&ids, &type_ids, Some(&mask))?;
        let vectors = mean_pool_normalised(&hidden, &mask)?.to_vec2::<f32>()?;
        if let Some(index) = vectors
            .iter()
            .position(|v| v.iter().any(|x| !x.is_finite()))
        {
            return Err(EmbedError::NonFinite { index });
        }
        metrics::histogram!("ragmesh_embed_batch_duration_seconds")
            .record(start.elapsed().as_secs_f64());
        metrics::histogram!("ragmesh_embed_batch_size").record(rows as f64);
        metrics::counter!("ragmesh_embed_texts_total").increment(rows as u64);
        Ok(vectors)
    }

    /// Length of every vector (384 for all-MiniLM-L6-v2).
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Name of the model (its directory name, e.g. `all-MiniLM-L6-v2`).
    pub fn model_name(&self) -> &str {
        &self.name
    }

    /// Word pieces (special tokens included) the model reads from one text; the rest is cut.
    pub fn max_tokens(&self) -> usize {
        self.max_tokens
    }

    /// Byte offsets (start, end) of the word pieces of `text` (no special tokens, no
    /// truncation), used by the chunker to cut chunks of N word pieces.
    pub fn token_offsets(&self, text: &str) -> Result<Vec<(usize, usize)>, EmbedError> {
        let encoding = self
            .bare_tokenizer
            .encode(text, false)
            .map_err(|e| EmbedError::Tokenizer(e.to_string()))?;
        Ok(encoding.get_offsets().to_vec())
    }
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, EmbedError> {
    let bytes = std::fs::read(path).map_err(|e| model_file(path, e))?;
    serde_json::from_slice(&bytes).map_err(|e| model_file(path, e))
}

fn model_file(path: &Path, reason: impl std::fmt::Display) -> EmbedError {
    EmbedError::ModelFile {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}
