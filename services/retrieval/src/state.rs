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
    pub(crate) fusion: ragmesh_index::FusionMethod,
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
            fusion: config.fusion,
            rrf_k: config.rrf_k,
            leg_depth_factor: config.leg_depth_factor.max(1),
            embed_batch_size: config.embed_batch_size.max(1),
        })
    }

    /// Embeds `texts` in batches of `embed_batch_size` (on the calling pool thread), in the
    /// order given; see [`embed_by_length`].
    pub(crate) fn embed_batched(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, RetrievalError> {
        embed_by_length(&self.embedder, texts, self.embed_batch_size)
    }
}

/// `texts` embedded in batches of `batch_size`, returned in the order given. Texts are batched
/// by length, longest first: a batch is padded to its longest text, and a document's last chunk
/// is usually short, so batching in document order spent a fifth of an ingest's model time on
/// padding.
fn embed_by_length(
    embedder: &Embedder,
    texts: &[&str],
    batch_size: usize,
) -> Result<Vec<Vec<f32>>, RetrievalError> {
    let mut order: Vec<usize> = (0..texts.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(texts[i].len()));
    let mut vectors: Vec<Vec<f32>> = vec![Vec::new(); texts.len()];
    for batch in order.chunks(batch_size.max(1)) {
        let batch_texts: Vec<&str> = batch.iter().map(|&i| texts[i]).collect();
        let embedded = embedder.embed(&batch_texts)?;
        if embedded.len() != batch.len() {
            return Err(RetrievalError::Worker(format!(
                "the embedder returned {} vectors for {} texts",
                embedded.len(),
                batch.len()
            )));
        }
        for (&i, vector) in batch.iter().zip(embedded) {
            vectors[i] = vector;
        }
    }
    Ok(vectors)
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn texts_batched_by_length_come_back_in_the_order_given() {
        let embedder =
            Embedder::load(&ragmesh_testkit::models_dir().join("all-MiniLM-L6-v2")).unwrap();
        let texts = [
            "short",
            "a much longer text about sourdough starters, their feeding and the oven",
            "lava",
            "a medium text about the orbit of moons",
            "rust borrow checker",
        ];
        let batched = embed_by_length(&embedder, &texts, 2).unwrap();
        assert_eq!(batched.len(), texts.len());
        for (text, vector) in texts.iter().zip(&batched) {
            let alone = embedder.embed(&[text]).unwrap().remove(0);
            let diff = alone
                .iter()
                .zip(vector)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            assert!(diff < 1e-4, "{text:?}: max difference {diff}");
        }
        assert!(embed_by_length(&embedder, &[], 2).unwrap().is_empty());
    }
}
