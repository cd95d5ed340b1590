//! Fusion of the BM25 and vector legs of one collection (score fusion by default, or
//! reciprocal rank fusion). The arithmetic lives in [`ragmesh_core::fusion`] so that the
//! gateway, fusing legs gathered from several shards, ranks with exactly the same code; this
//! module applies it to [`LegHit`]s.

use crate::{ChunkId, LegHit};
pub use ragmesh_core::fusion::{FusionMethod, LegPosition};

/// A chunk after fusion.
pub type FusedHit = ragmesh_core::fusion::FusedHit<ChunkId>;

fn pairs(hits: &[LegHit]) -> Vec<(ChunkId, f32)> {
    hits.iter().map(|h| (h.id, h.score)).collect()
}

/// Fuses two ranked legs (best first) into one list, best first, by `method` (`rrf_k` is
/// used by [`FusionMethod::Rrf`] only).
pub fn fuse(bm25: &[LegHit], vector: &[LegHit], method: FusionMethod, rrf_k: u32) -> Vec<FusedHit> {
    ragmesh_core::fusion::fuse(&pairs(bm25), &pairs(vector), method, rrf_k)
}

/// Reciprocal rank fusion of two ranked legs (best first), best first.
pub fn reciprocal_rank_fusion(bm25: &[LegHit], vector: &[LegHit], rrf_k: u32) -> Vec<FusedHit> {
    ragmesh_core::fusion::reciprocal_rank_fusion(&pairs(bm25), &pairs(vector), rrf_k)
}

/// One leg's hits in the fused shape; the score stays the leg's own (BM25 or cosine).
pub fn single_leg(hits: &[LegHit], is_bm25: bool) -> Vec<FusedHit> {
    ragmesh_core::fusion::single_leg(&pairs(hits), is_bm25)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn leg(ids: &[u64]) -> Vec<LegHit> {
        ids.iter()
            .map(|&id| LegHit {
                id: ChunkId(id),
                score: 1.0 / (id as f32 + 1.0),
            })
            .collect()
    }

    #[test]
    fn sums_reciprocal_ranks_over_legs() {
        let (bm25, vector) = (leg(&[1, 2, 3]), leg(&[3, 1, 4]));
        let fused = reciprocal_rank_fusion(&bm25, &vector, 60);
        // The arithmetic is ragmesh-core's, checked there on these same legs: LegHits fuse
        // to exactly what core gives for their (id, score) pairs, every field of every hit.
        let core = ragmesh_core::fusion::reciprocal_rank_fusion(&pairs(&bm25), &pairs(&vector), 60);
        assert_eq!(fused, core);
        let by_id = |id| fused.iter().find(|h| h.id == ChunkId(id)).unwrap();
        assert!((by_id(2).score - 1.0 / 62.0).abs() < 1e-12);
        assert!((by_id(4).score - 1.0 / 63.0).abs() < 1e-12);
        assert_eq!(by_id(3).vector.map(|p| p.rank), Some(1));
        assert_eq!(by_id(4).bm25, None);
    }

    #[test]
    fn rrf_k_changes_how_much_the_top_ranks_dominate() {
        // With a small k, rank 1 in one leg beats rank 2 + rank 3... in the same leg pair.
        let bm25 = leg(&[10, 20]);
        let vector = leg(&[30, 20]);
        // k = 0: 10 and 30 score 1.0; 20 scores 1/2 + 1/2 = 1.0 as well -> tie broken by id.
        let fused = reciprocal_rank_fusion(&bm25, &vector, 0);
        let order: Vec<u64> = fused.iter().map(|h| h.id.0).collect();
        assert_eq!(order, [10, 20, 30]);
        // k = 60: being in both legs wins.
        let fused = reciprocal_rank_fusion(&bm25, &vector, 60);
        assert_eq!(fused[0].id, ChunkId(20));
    }

    #[test]
    fn ties_are_broken_by_id_whatever_the_input_order() {
        let a = reciprocal_rank_fusion(&leg(&[5]), &leg(&[2]), 60);
        let b = reciprocal_rank_fusion(&leg(&[2]), &leg(&[5]), 60);
        let ids = |v: &[FusedHit]| v.iter().map(|h| h.id.0).collect::<Vec<_>>();
        assert_eq!(ids(&a), [2, 5]);
        assert_eq!(ids(&b), [2, 5]);
        assert!(reciprocal_rank_fusion(&[], &[], 60).is_empty());
    }
}
