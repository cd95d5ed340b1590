//! What the service holds while it runs: the embedding model, the collections of the data
//! directory, the chunker and the compute pool, loaded once at start-up.

use crate::RetrievalError;
use ragmesh_config::Settings;
use ragmesh_embed::Embedder;
use ragmesh_index::{Chunker, Collections};
use std::path::PathBuf;

/// Word pieces the model adds around every text ([CLS] and [SEP]).
const SPECIAL_TOKENS: usize = 2;

pub struct RetrievalState {
    pub(crate) embedder: Embedder,
    pub(crate) collections: Collections,
    pub(crate) chunker: Chunker,
    pub(crate) rrf_k: u32,
    pub(crate) leg_depth_factor: usize,
    pub(crate) embed_batch_size: usize,
}

impl std::fmt::Debug for RetrievalState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RetrievalState")
            .field("embedder", &self.embedder)
            .finish_non_exhaustive()
    }
}

impl RetrievalState {
    /// Loads the model and opens every collection (blocking; call on the compute pool).
    pub fn load(settings: &Settings) -> Result<RetrievalState, RetrievalError> {
        let config = &settings.retrieval;
        let embedder = Embedder::load(&embedding_model_dir(settings))?;
        let readable = embedder.max_tokens().saturating_sub(SPECIAL_TOKENS).max(1);
        let chunk_tokens = if config.chunk_tokens > readable {
            tracing::warn!(
                configured = config.chunk_tokens,
                used = readable,
                "retrieval.chunk_tokens exceeds what the embedding model reads; using the model's limit"
            );
            readable
        } else {
            config.chunk_tokens
        };
        let overlap = config
            .chunk_overlap_tokens
            .min(chunk_tokens.saturating_sub(1));
        let chunker = Chunker::new(chunk_tokens, overlap)?;
        let collections = Collections::new(&config.data_dir)?;
        let opened = collections.open_all()?;
        let repairs = crate::startup_check::record(&collections)?;
        tracing::info!(
            collections = opened,
            repairs,
            data_dir = %config.data_dir.display(),
            chunk_tokens,
            overlap,
            "retrieval state loaded"
        );
        Ok(RetrievalState {
            embedder,
            collections,
            chunker,
            rrf_k: config.rrf_k,
            leg_depth_factor: config.leg_depth_factor.max(1),
            embed_batch_size: config.embed_batch_size.max(1),
        })
    }

    /// Embeds `texts` in batches of `embed_batch_size` (on the calling pool thread).
    pub(crate) fn embed_batched(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, RetrievalError> {
        let mut vectors = Vec::with_capacity(texts.len());
        for batch in texts.chunks(self.embed_batch_size) {
            vectors.extend(self.embedder.embed(batch)?);
        }
        Ok(vectors)
    }
}

/// `retrieval.embedding_model_dir`, else `<models.dir>/all-MiniLM-L6-v2`.
pub fn embedding_model_dir(settings: &Settings) -> PathBuf {
    settings
        .retrieval
        .embedding_model_dir
        .clone()
        .filter(|dir| !dir.as_os_str().is_empty())
        .unwrap_or_else(|| settings.models.dir.join("all-MiniLM-L6-v2"))
}
