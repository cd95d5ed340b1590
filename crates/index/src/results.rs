//! What a search asks for and what it returns: the method, the per-leg hits that fusion
//! consumes, and the hydrated hits (text, metadata, per-leg scores and ranks) with step
//! timings that callers pass on to their profilers.

use crate::{ChunkId, Filters, Metadata};
pub use ragmesh_core::fusion::FusionMethod;

/// Which legs a search runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// BM25 and vector legs concurrently, fused by the request's [`FusionMethod`].
    Hybrid,
    Vector,
    Bm25,
}

/// One search over one collection.
#[derive(Debug, Clone)]
pub struct SearchRequest<'a> {
    /// Query text for the BM25 leg (may be empty when only the vector leg runs).
    pub text: &'a str,
    /// Query embedding for the vector leg.
    pub vector: Option<&'a [f32]>,
    /// Hits to return.
    pub k: usize,
    pub method: Method,
    /// How hybrid search fuses its legs.
    pub fusion: FusionMethod,
    /// RRF constant (with [`FusionMethod::Rrf`]): a hit at rank r in a leg adds
    /// `1 / (rrf_k + r)`.
    pub rrf_k: u32,
    /// Each leg fetches `max(k * leg_depth_factor, MIN_LEG_DEPTH)` candidates.
    pub leg_depth_factor: usize,
    pub filters: &'a Filters,
}

/// Candidates each leg fetches at least before fusion.
pub const MIN_LEG_DEPTH: usize = 50;

impl SearchRequest<'_> {
    /// Candidates each leg fetches.
    pub fn leg_depth(&self) -> usize {
        self.k
            .saturating_mul(self.leg_depth_factor)
            .max(MIN_LEG_DEPTH)
    }
}

/// A candidate of one leg, before hydration. Legs return hits best first.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LegHit {
    pub id: ChunkId,
    /// BM25 score, or cosine similarity for the vector leg.
    pub score: f32,
}

/// A chunk found by a search.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchHit {
    pub id: ChunkId,
    pub source: String,
    pub chunk_index: u32,
    pub text: String,
    pub metadata: Metadata,
    /// Fused score for hybrid (normalised-score sum or RRF), cosine for vector, BM25 for bm25.
    pub score: f32,
    pub vector_score: Option<f32>,
    pub bm25_score: Option<f32>,
    /// 1-based rank in the vector leg.
    pub vector_rank: Option<u32>,
    /// 1-based rank in the BM25 leg.
    pub bm25_rank: Option<u32>,
}

/// Milliseconds spent in each step; a leg that did not run is None.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StepTimings {
    pub bm25_ms: Option<f64>,
    pub vector_ms: Option<f64>,
    /// Fusion of the legs and loading the returned chunks.
    pub fusion_ms: f64,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct SearchResults {
    pub hits: Vec<SearchHit>,
    pub timings: StepTimings,
}

/// The legs of one search, unfused (see `Collection::search_legs`): each leg's hits best
/// first, at most `depth` of them, each scored and ranked in its leg only. None: the leg
/// did not run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SearchLegs {
    pub bm25: Option<Vec<SearchHit>>,
    pub vector: Option<Vec<SearchHit>>,
    /// Hits each leg fetched (the cut a merge across shards must apply again).
    pub depth: usize,
    pub timings: StepTimings,
}
