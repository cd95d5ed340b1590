//! Searching a collection: the BM25 leg, the vector leg, and hybrid search running both legs
//! concurrently (rayon::join) and fusing them (score fusion or reciprocal rank fusion, see
//! [`crate::fusion`]); or, for a sharded
//! collection, the legs unfused (scored with the whole collection's BM25 counts) for the
//! caller to merge across shards and fuse. Filters restrict
//! each leg before its top-k is taken. All legs and the loading of results use one tantivy
//! searcher, so a search sees one consistent snapshot of the text index.

use super::Collection;
use crate::fusion::{FusedHit, fuse, single_leg};
use crate::metadata::validate_entries;
use crate::vector_index::normalized;
use crate::{
    Bm25Stats, Filters, IndexError, LegHit, Method, SearchHit, SearchLegs, SearchRequest,
    SearchResults, StepTimings,
};
use std::time::Instant;
use tantivy::Searcher;
use tantivy::query::Query;

/// What the legs of one search found, before fusion.
struct Legs {
    searcher: Searcher,
    bm25: Option<Vec<LegHit>>,
    vector: Option<Vec<LegHit>>,
    depth: usize,
    timings: StepTimings,
}

impl Collection {
    /// Runs `request` and returns at most `k` hits, best first.
    pub fn search(&self, request: &SearchRequest<'_>) -> Result<SearchResults, IndexError> {
        let legs = self.run_legs(request, None)?;
        let mut timings = legs.timings;
        let started = Instant::now();
        let ranked = match (&legs.bm25, &legs.vector) {
            (Some(b), Some(v)) => fuse(b, v, request.fusion, request.rrf_k),
            (Some(b), None) => single_leg(b, true),
            (None, Some(v)) => single_leg(v, false),
            (None, None) => Vec::new(),
        };
        let hits = self.hydrate(&legs.searcher, &ranked, request.k)?;
        timings.fusion_ms = started.elapsed().as_secs_f64() * 1e3;
        Ok(SearchResults { hits, timings })
    }

    /// The legs of `request` unfused, each hydrated and cut at the leg depth, for a caller
    /// that merges them with other shards' legs and fuses the result itself. BM25 scores use
    /// `stats` (the whole collection's counts, see [`Bm25Stats`]) when given.
    pub fn search_legs(
        &self,
        request: &SearchRequest<'_>,
        stats: Option<&Bm25Stats>,
    ) -> Result<SearchLegs, IndexError> {
        let legs = self.run_legs(request, stats)?;
        let mut timings = legs.timings;
        let started = Instant::now();
        let hydrate = |hits: &Option<Vec<LegHit>>, is_bm25: bool| {
            hits.as_ref()
                .map(|h| self.hydrate(&legs.searcher, &single_leg(h, is_bm25), legs.depth))
                .transpose()
        };
        let bm25 = hydrate(&legs.bm25, true)?;
        let vector = hydrate(&legs.vector, false)?;
        timings.fusion_ms = started.elapsed().as_secs_f64() * 1e3;
        Ok(SearchLegs {
            bm25,
            vector,
            depth: legs.depth,
            timings,
        })
    }

    /// This collection's BM25 counts for the analysed terms of `text`.
    pub fn term_stats(&self, text: &str) -> Result<Bm25Stats, IndexError> {
        self.text.term_stats(&self.text.searcher(), text)
    }

    fn run_legs(
        &self,
        request: &SearchRequest<'_>,
        stats: Option<&Bm25Stats>,
    ) -> Result<Legs, IndexError> {
        if request.k == 0 {
            return Err(IndexError::invalid("k must be at least 1"));
        }
        validate_entries(request.filters, "filters")?;
        let needs_vector = matches!(request.method, Method::Hybrid | Method::Vector);
        let query_vector = match (needs_vector, request.vector) {
            (false, _) => None,
            (true, Some(v)) => Some(normalized(v)?),
            (true, None) => {
                return Err(IndexError::invalid(
                    "vector and hybrid search need a query vector",
                ));
            }
        };
        if let Some(v) = &query_vector {
            self.vectors.read().check_dim(v.len(), &self.name)?;
        }
        let searcher = self.text.searcher();
        let depth = request.leg_depth();
        let filter = self.text.filter_query(request.filters);
        let bm25_leg = || {
            timed(|| {
                self.text
                    .bm25(&searcher, request.text, depth, request.filters, stats)
            })
        };
        let vector_leg =
            |v: &[f32]| timed(|| self.vector_leg(&searcher, v, depth, filter.as_deref()));
        let mut timings = StepTimings::default();
        let (bm25, vector) = match (request.method, query_vector.as_deref()) {
            (Method::Hybrid, Some(v)) => {
                let (b, v) = rayon::join(bm25_leg, || vector_leg(v));
                (Some(b), Some(v))
            }
            (Method::Vector, Some(v)) => (None, Some(vector_leg(v))),
            _ => (Some(bm25_leg()), None),
        };
        let bm25 = bm25.map(|(hits, ms)| hits.map(|h| (h, ms))).transpose()?;
        let vector = vector.map(|(hits, ms)| hits.map(|h| (h, ms))).transpose()?;
        timings.bm25_ms = bm25.as_ref().map(|(_, ms)| *ms);
        timings.vector_ms = vector.as_ref().map(|(_, ms)| *ms);
        Ok(Legs {
            searcher,
            bm25: bm25.map(|(h, _)| h),
            vector: vector.map(|(h, _)| h),
            depth,
            timings,
        })
    }

    /// The BM25 leg alone: the best `depth` chunks for `text`, best first.
    pub fn bm25(
        &self,
        text: &str,
        depth: usize,
        filters: &Filters,
    ) -> Result<Vec<LegHit>, IndexError> {
        self.text
            .bm25(&self.text.searcher(), text, depth, filters, None)
    }

    /// The vector leg alone: the `depth` chunks most similar to `query`, best first.
    pub fn vector(
        &self,
        query: &[f32],
        depth: usize,
        filters: &Filters,
    ) -> Result<Vec<LegHit>, IndexError> {
        let query = normalized(query)?;
        self.vectors.read().check_dim(query.len(), &self.name)?;
        let searcher = self.text.searcher();
        let filter = self.text.filter_query(filters);
        self.vector_leg(&searcher, &query, depth, filter.as_deref())
    }

    /// Exact (brute-force) vector search, the reference HNSW recall is measured against.
    pub fn vector_exact(&self, query: &[f32], depth: usize) -> Result<Vec<LegHit>, IndexError> {
        let query = normalized(query)?;
        let vectors = self.vectors.read();
        vectors.check_dim(query.len(), &self.name)?;
        Ok(vectors.exact(&query, depth, None))
    }

    fn vector_leg(
        &self,
        searcher: &Searcher,
        query: &[f32],
        depth: usize,
        filter: Option<&dyn Query>,
    ) -> Result<Vec<LegHit>, IndexError> {
        let allowed = filter
            .map(|f| self.text.matching_ids(searcher, f))
            .transpose()?;
        Ok(self.vectors.read().search(query, depth, allowed.as_ref()))
    }

    /// Loads the best `k` ranked chunks. A chunk deleted since the legs ran is skipped and
    /// the next one takes its place.
    fn hydrate(
        &self,
        searcher: &Searcher,
        ranked: &[FusedHit],
        k: usize,
    ) -> Result<Vec<SearchHit>, IndexError> {
        let mut hits = Vec::with_capacity(k.min(ranked.len()));
        let mut next = 0;
        while hits.len() < k && next < ranked.len() {
            let batch = &ranked[next..(next + k - hits.len()).min(ranked.len())];
            next += batch.len();
            let ids: Vec<_> = batch.iter().map(|h| h.id).collect();
            let mut stored = self.text.fetch(searcher, &ids)?;
            for fused in batch {
                let Some(chunk) = stored.remove(&fused.id) else {
                    continue;
                };
                hits.push(SearchHit {
                    id: fused.id,
                    source: chunk.source,
                    chunk_index: chunk.chunk_index,
                    text: chunk.text,
                    metadata: chunk.metadata,
                    score: fused.score as f32,
                    vector_score: fused.vector.map(|p| p.score),
                    bm25_score: fused.bm25.map(|p| p.score),
                    vector_rank: fused.vector.map(|p| p.rank),
                    bm25_rank: fused.bm25.map(|p| p.rank),
                });
            }
        }
        Ok(hits)
    }
}

fn timed<T>(f: impl FnOnce() -> T) -> (T, f64) {
    let started = Instant::now();
    let value = f();
    (value, started.elapsed().as_secs_f64() * 1e3)
}
