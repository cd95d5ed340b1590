//! Searching a collection: the BM25 leg, the vector leg, and hybrid search running both legs
//! concurrently (rayon::join) and fusing them with reciprocal rank fusion. Filters restrict
//! each leg before its top-k is taken. All legs and the loading of results use one tantivy
//! searcher, so a search sees one consistent snapshot of the text index.

use crate::collection::Collection;
use crate::fusion::{FusedHit, LegPosition, reciprocal_rank_fusion};
use crate::metadata::validate_entries;
use crate::vector_index::normalized;
use crate::{
    Filters, IndexError, LegHit, Method, SearchHit, SearchRequest, SearchResults, StepTimings,
};
use std::time::Instant;
use tantivy::Searcher;
use tantivy::query::Query;

impl Collection {
    /// Runs `request` and returns at most `k` hits, best first.
    pub fn search(&self, request: &SearchRequest<'_>) -> Result<SearchResults, IndexError> {
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
                    .bm25(&searcher, request.text, depth, request.filters)
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

        let started = Instant::now();
        let ranked = match (bm25, vector) {
            (Some((b, _)), Some((v, _))) => reciprocal_rank_fusion(&b, &v, request.rrf_k),
            (Some((b, _)), None) => single_leg(&b, true),
            (None, Some((v, _))) => single_leg(&v, false),
            (None, None) => Vec::new(),
        };
        let hits = self.hydrate(&searcher, &ranked, request.k)?;
        timings.fusion_ms = started.elapsed().as_secs_f64() * 1e3;
        Ok(SearchResults { hits, timings })
    }

    /// The BM25 leg alone: the best `depth` chunks for `text`, best first.
    pub fn bm25(
        &self,
        text: &str,
        depth: usize,
        filters: &Filters,
    ) -> Result<Vec<LegHit>, IndexError> {
        self.text.bm25(&self.text.searcher(), text, depth, filters)
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

/// One leg's hits in the fused shape; the score stays the leg's own (BM25 or cosine).
fn single_leg(hits: &[LegHit], is_bm25: bool) -> Vec<FusedHit> {
    hits.iter()
        .enumerate()
        .map(|(i, hit)| {
            let position = Some(LegPosition {
                rank: i as u32 + 1,
                score: hit.score,
            });
            FusedHit {
                id: hit.id,
                score: f64::from(hit.score),
                bm25: if is_bm25 { position } else { None },
                vector: if is_bm25 { None } else { position },
            }
        })
        .collect()
}

fn timed<T>(f: impl FnOnce() -> T) -> (T, f64) {
    let started = Instant::now();
    let value = f();
    (value, started.elapsed().as_secs_f64() * 1e3)
}
