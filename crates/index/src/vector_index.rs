//! The in-memory half of the vector store: an HNSW graph (hnsw_rs, `DistDot` on L2-normalised
//! vectors) over "slots", plus the vectors themselves for exact scoring.
//!
//! hnsw_rs cannot delete, so a replaced or deleted chunk leaves a dead slot that searches
//! filter out; when too many slots are dead the collection compacts the log and rebuilds the
//! graph. Slots are inserted one by one in log order, and hnsw_rs seeds its level generator
//! with a constant, so the graph is a pure function of the log: after a restart the same
//! query walks the same graph and returns the same hits.
//!
//! Small candidate sets (a small collection, or a selective filter) are scanned exactly,
//! which is both faster and exact; the graph serves the rest.

use crate::{ChunkId, IndexError, LegHit};
use hnsw_rs::prelude::{DistDot, FilterT, Hnsw};
use std::collections::{HashMap, HashSet};
use std::ops::Range;

/// Neighbours kept per node and layer.
const MAX_CONNECTIONS: usize = 16;
/// Candidate list width while inserting.
const EF_CONSTRUCTION: usize = 128;
const MAX_LAYERS: usize = 16;
/// Candidate sets up to this size are scored exactly instead of walking the graph.
pub(crate) const EXACT_SEARCH_MAX: usize = 4096;

/// The graph width used for a search returning `depth` hits.
pub fn ef_search(depth: usize) -> usize {
    (2 * depth).max(64)
}

pub(crate) struct VectorIndex {
    dim: Option<usize>,
    graph: Hnsw<'static, f32, DistDot>,
    /// Slot -> chunk id.
    ids: Vec<ChunkId>,
    /// Slot-major vectors (`dim` floats per slot).
    data: Vec<f32>,
    alive: Vec<bool>,
    /// Live chunk id -> its slot.
    live: HashMap<ChunkId, usize>,
}

impl VectorIndex {
    pub fn new(expected: usize) -> VectorIndex {
        VectorIndex {
            dim: None,
            graph: Hnsw::new(
                MAX_CONNECTIONS,
                expected.max(1024),
                MAX_LAYERS,
                EF_CONSTRUCTION,
                DistDot,
            ),
            ids: Vec::new(),
            data: Vec::new(),
            alive: Vec::new(),
            live: HashMap::new(),
        }
    }

    pub fn dim(&self) -> Option<usize> {
        self.dim
    }

    pub fn live_len(&self) -> usize {
        self.live.len()
    }

    pub fn slot_len(&self) -> usize {
        self.ids.len()
    }

    pub fn dead_len(&self) -> usize {
        self.ids.len() - self.live.len()
    }

    pub fn contains(&self, id: ChunkId) -> bool {
        self.live.contains_key(&id)
    }

    pub fn live_ids(&self) -> impl Iterator<Item = ChunkId> + '_ {
        self.live.keys().copied()
    }

    /// Live vectors in slot order (the order a rebuilt graph and a compacted log use).
    pub fn live_vectors(&self) -> impl Iterator<Item = (ChunkId, &[f32])> + '_ {
        (0..self.ids.len())
            .filter(|&slot| self.alive[slot])
            .map(|slot| (self.ids[slot], self.vector(slot)))
    }

    fn vector(&self, slot: usize) -> &[f32] {
        let dim = self.dim.unwrap_or(0);
        &self.data[slot * dim..(slot + 1) * dim]
    }

    /// Checks that `len` matches the collection's dimension (any length fits an empty store).
    pub fn check_dim(&self, len: usize, collection: &str) -> Result<(), IndexError> {
        match self.dim {
            Some(expected) if expected != len => Err(IndexError::DimensionMismatch {
                collection: collection.to_string(),
                expected,
                got: len,
            }),
            _ => Ok(()),
        }
    }

    /// Adds a normalised vector as a dead slot (not yet searchable) and returns the slot.
    /// Step one of an insert; [`VectorIndex::link`] and [`VectorIndex::activate`] follow.
    pub fn stage(&mut self, id: ChunkId, vector: &[f32]) -> usize {
        let dim = *self.dim.get_or_insert(vector.len());
        debug_assert_eq!(dim, vector.len());
        self.ids.push(id);
        self.data.extend_from_slice(vector);
        self.alive.push(false);
        self.ids.len() - 1
    }

    /// Inserts staged slots into the graph, one by one in order. Needs only `&self`, so
    /// searches run meanwhile (they skip the not-yet-alive slots).
    pub fn link(&self, slots: Range<usize>) {
        for slot in slots {
            self.graph.insert_slice((self.vector(slot), slot));
        }
    }

    /// Makes staged, linked slots searchable; an older slot of the same id dies.
    pub fn activate(&mut self, slots: Range<usize>) {
        for slot in slots {
            let id = self.ids[slot];
            if let Some(old) = self.live.insert(id, slot) {
                self.alive[old] = false;
            }
            self.alive[slot] = true;
        }
    }

    /// Stages, links and activates one vector (log replay).
    pub fn put(&mut self, id: ChunkId, vector: &[f32]) {
        let slot = self.stage(id, vector);
        self.link(slot..slot + 1);
        self.activate(slot..slot + 1);
    }

    /// Kills the slot of `id`; false when it was not live.
    pub fn remove(&mut self, id: ChunkId) -> bool {
        match self.live.remove(&id) {
            Some(slot) => {
                self.alive[slot] = false;
                true
            }
            None => false,
        }
    }

    /// The `depth` live vectors most similar to `query` (normalised, right dimension) among
    /// `allowed` (all when None), best first, ties by ascending id. Scores are dot products.
    pub fn search(
        &self,
        query: &[f32],
        depth: usize,
        allowed: Option<&HashSet<ChunkId>>,
    ) -> Vec<LegHit> {
        if depth == 0 || self.live.is_empty() {
            return Vec::new();
        }
        let candidates = allowed.map_or(self.live.len(), HashSet::len);
        if candidates <= EXACT_SEARCH_MAX {
            return self.exact(query, depth, allowed);
        }
        let hits = self.graph_search(query, depth, allowed);
        // A selective filter can starve the graph walk; the exact scan is always complete.
        let reachable = allowed.map_or(self.live.len(), |a| {
            a.iter().filter(|id| self.contains(**id)).count()
        });
        if hits.len() < depth.min(reachable) {
            return self.exact(query, depth, allowed);
        }
        hits
    }

    /// Approximate search through the graph.
    pub fn graph_search(
        &self,
        query: &[f32],
        depth: usize,
        allowed: Option<&HashSet<ChunkId>>,
    ) -> Vec<LegHit> {
        let ef = ef_search(depth);
        let keep = |slot: &usize| {
            self.alive[*slot] && allowed.is_none_or(|a| a.contains(&self.ids[*slot]))
        };
        let filter: &dyn FilterT = &keep;
        // Asking for `ef` neighbours returns every accepted point the walk kept.
        let neighbours = self.graph.search_filter(query, ef, ef, Some(filter));
        let hits = neighbours
            .iter()
            .filter(|n| keep(&n.d_id))
            .map(|n| LegHit {
                id: self.ids[n.d_id],
                score: dot(query, self.vector(n.d_id)),
            })
            .collect();
        best_first(hits, depth)
    }

    /// Exact search over live vectors (restricted to `allowed` when given).
    pub fn exact(
        &self,
        query: &[f32],
        depth: usize,
        allowed: Option<&HashSet<ChunkId>>,
    ) -> Vec<LegHit> {
        let score = |(id, slot): (ChunkId, usize)| LegHit {
            id,
            score: dot(query, self.vector(slot)),
        };
        let hits: Vec<LegHit> = match allowed {
            Some(allowed) => allowed
                .iter()
                .filter_map(|id| self.live.get(id).map(|&slot| (*id, slot)))
                .map(score)
                .collect(),
            None => self
                .live
                .iter()
                .map(|(id, &slot)| (*id, slot))
                .map(score)
                .collect(),
        };
        best_first(hits, depth)
    }

    /// A fresh index holding only the live vectors, in slot order.
    pub fn rebuilt(&self) -> VectorIndex {
        let mut fresh = VectorIndex::new(self.live.len());
        for (id, vector) in self.live_vectors() {
            fresh.put(id, vector);
        }
        fresh
    }
}

/// Sorts by descending score, then ascending id, and keeps `depth`.
fn best_first(mut hits: Vec<LegHit>, depth: usize) -> Vec<LegHit> {
    hits.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.id.cmp(&b.id)));
    hits.truncate(depth);
    hits
}

/// `v / |v|`, refusing vectors that cannot be normalised (zero, NaN, infinite).
pub fn normalized(v: &[f32]) -> Result<Vec<f32>, IndexError> {
    if v.is_empty() {
        return Err(IndexError::invalid("vector is empty"));
    }
    if v.iter().any(|x| !x.is_finite()) {
        return Err(IndexError::invalid("vector has a non-finite component"));
    }
    let norm = dot(v, v).sqrt();
    if !norm.is_finite() || norm <= 1e-12 {
        return Err(IndexError::invalid("vector has zero length"));
    }
    Ok(v.iter().map(|x| x / norm).collect())
}

/// Dot product with eight independent accumulators (lets the compiler vectorise it).
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let chunks = a.len() / 8;
    for i in 0..chunks {
        for lane in 0..8 {
            acc[lane] += a[i * 8 + lane] * b[i * 8 + lane];
        }
    }
    let mut sum: f32 = acc.iter().sum();
    for i in chunks * 8..a.len().min(b.len()) {
        sum += a[i] * b[i];
    }
    sum
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// Deterministic pseudo-random unit vectors (splitmix64 + Box-Muller) around a hierarchy
    /// of topic and subtopic centroids, so the graph has structure to find, like real
    /// embeddings (uniform noise in many dimensions has no neighbours worth the name).
    fn vectors(n: usize, dim: usize, seed: u64) -> Vec<Vec<f32>> {
        let mut state = seed;
        let mut uniform = move || {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
        };
        let mut gaussian = move || {
            let (u1, u2) = (uniform().max(1e-12), uniform());
            ((-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()) as f32
        };
        let scale = 1.0 / (dim as f32).sqrt();
        let mut around = |center: &[f32], noise: f32| -> Vec<f32> {
            let v: Vec<f32> = center
                .iter()
                .map(|c| c + noise * scale * gaussian())
                .collect();
            normalized(&v).unwrap()
        };
        let origin = vec![0.0; dim];
        let topics: Vec<Vec<f32>> = (0..10).map(|_| around(&origin, 1.0)).collect();
        let subtopics: Vec<Vec<f32>> = (0..100).map(|i| around(&topics[i % 10], 0.6)).collect();
        (0..n)
            .map(|i| around(&subtopics[(i * 7919) % 100], 0.5))
            .collect()
    }

    #[test]
    fn graph_search_matches_exact_search_and_is_repeatable() {
        let mut data = vectors(6020, 32, 7);
        let queries = data.split_off(6000);
        let mut index = VectorIndex::new(data.len());
        for (i, v) in data.iter().enumerate() {
            index.put(ChunkId(i as u64), v);
        }
        let mut again = VectorIndex::new(data.len());
        for (i, v) in data.iter().enumerate() {
            again.put(ChunkId(i as u64), v);
        }
        let mut found = 0;
        for q in queries {
            let exact = index.exact(&q, 10, None);
            let graph = index.graph_search(&q, 10, None);
            found += graph
                .iter()
                .filter(|h| exact.iter().any(|e| e.id == h.id))
                .count();
            // Same log order -> same graph -> same answer.
            assert_eq!(graph, again.graph_search(&q, 10, None));
        }
        assert!(found >= 190, "recall@10 {found}/200");
    }

    #[test]
    fn dead_slots_and_filters_never_come_back() {
        let data = vectors(5000, 16, 3);
        let mut index = VectorIndex::new(data.len());
        for (i, v) in data.iter().enumerate() {
            index.put(ChunkId(i as u64), v);
        }
        // The query is vector 0 itself: it must be the best hit until removed.
        assert_eq!(index.search(&data[0], 5, None)[0].id, ChunkId(0));
        assert!(index.remove(ChunkId(0)));
        assert!(!index.remove(ChunkId(0)));
        assert!(
            index
                .graph_search(&data[0], 50, None)
                .iter()
                .all(|h| h.id != ChunkId(0))
        );
        assert!(
            index
                .exact(&data[0], 50, None)
                .iter()
                .all(|h| h.id != ChunkId(0))
        );

        let allowed: HashSet<ChunkId> = (0..5000).step_by(7).map(ChunkId).collect();
        let hits = index.search(&data[14], 20, Some(&allowed));
        assert_eq!(hits.len(), 20);
        assert_eq!(hits[0].id, ChunkId(14));
        assert!(
            hits.iter()
                .all(|h| allowed.contains(&h.id) && h.id != ChunkId(0))
        );
        assert!(hits.windows(2).all(|w| w[0].score >= w[1].score));

        // A filter too wide for the exact scan goes through the graph, still filtered.
        let wide: HashSet<ChunkId> = (0..5000).filter(|i| i % 7 != 0).map(ChunkId).collect();
        assert!(wide.len() > EXACT_SEARCH_MAX);
        let hits = index.search(&data[15], 20, Some(&wide));
        assert_eq!(hits.len(), 20);
        assert_eq!(hits[0].id, ChunkId(15));
        assert!(hits.iter().all(|h| wide.contains(&h.id)));
    }

    #[test]
    fn a_re_put_replaces_the_old_slot_and_rebuild_keeps_only_live_vectors() {
        let data = vectors(10, 8, 1);
        let mut index = VectorIndex::new(10);
        for (i, v) in data.iter().enumerate() {
            index.put(ChunkId(i as u64), v);
        }
        index.put(ChunkId(3), &data[4]);
        index.remove(ChunkId(5));
        assert_eq!((index.live_len(), index.dead_len()), (9, 2));
        let fresh = index.rebuilt();
        assert_eq!((fresh.live_len(), fresh.dead_len()), (9, 0));
        let top = fresh.search(&data[4], 2, None);
        let ids: HashSet<ChunkId> = top.iter().map(|h| h.id).collect();
        assert_eq!(ids, [ChunkId(3), ChunkId(4)].into());
        assert!(fresh.check_dim(8, "c").is_ok());
        assert!(fresh.check_dim(9, "c").is_err());
    }

    #[test]
    fn normalisation_refuses_degenerate_vectors() {
        let v = normalized(&[3.0, 4.0]).unwrap();
        assert!((v[0] - 0.6).abs() < 1e-6 && (v[1] - 0.8).abs() < 1e-6);
        assert!(normalized(&[0.0, 0.0]).is_err());
        assert!(normalized(&[f32::NAN, 1.0]).is_err());
        assert!(normalized(&[]).is_err());
        assert!((dot(&v, &v) - 1.0).abs() < 1e-6);
    }
}
