//! Tests of a collection as its users see it, one file per concern: crash recovery on open
//! ([`recovery`]), re-ingesting documents ([`upsert`]), backup and restore ([`backup`]). The
//! helpers here give them toy vectors (one axis per topic word) instead of a model.

use crate::SearchRequest;
use crate::{ChunkId, Collection, DocumentInput, Filters, FusionMethod, IndexError, Method};

mod backup;
mod recovery;
mod upsert;

const DIM: usize = 4;

fn vector_for(text: &str) -> Vec<f32> {
    // One axis per topic word, enough to make the vector leg discriminate.
    let axes = ["alpha", "beta", "gamma", "delta"];
    let mut v: Vec<f32> = axes
        .iter()
        .map(|a| if text.contains(a) { 1.0 } else { 0.01 })
        .collect();
    v[0] += 0.001;
    v
}

fn embed(texts: &[&str]) -> Result<Vec<Vec<f32>>, IndexError> {
    Ok(texts.iter().map(|t| vector_for(t)).collect())
}

fn document(source: &str, text: &str) -> DocumentInput {
    DocumentInput {
        source: source.into(),
        metadata: Default::default(),
        chunks: vec![text.into()],
    }
}

fn ids(collection: &Collection, method: Method, query: &str) -> Vec<ChunkId> {
    let vector = vector_for(query);
    let filters = Filters::new();
    let request = SearchRequest {
        text: query,
        vector: Some(&vector),
        k: 10,
        method,
        fusion: FusionMethod::default(),
        rrf_k: 60,
        leg_depth_factor: 4,
        filters: &filters,
    };
    collection
        .search(&request)
        .unwrap()
        .hits
        .iter()
        .map(|h| h.id)
        .collect()
}
