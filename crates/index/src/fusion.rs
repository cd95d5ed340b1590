//! Reciprocal rank fusion of the BM25 and vector legs: a chunk at rank r (from 1) in a leg
//! scores `1 / (rrf_k + r)` there, and its fused score is the sum over legs. Ranks, not raw
//! scores, are fused, so BM25 and cosine need no common scale. Ties are broken by chunk id so
//! that the same legs always give the same order.

use crate::{ChunkId, LegHit};
use std::collections::HashMap;

/// Where a chunk stood in one leg.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LegPosition {
    /// 1-based.
    pub rank: u32,
    pub score: f32,
}

/// A chunk after fusion.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FusedHit {
    pub id: ChunkId,
    pub score: f64,
    pub bm25: Option<LegPosition>,
    pub vector: Option<LegPosition>,
}

/// Fuses two ranked legs (best first) into one list, best first.
pub fn reciprocal_rank_fusion(bm25: &[LegHit], vector: &[LegHit], rrf_k: u32) -> Vec<FusedHit> {
    let mut fused: HashMap<ChunkId, FusedHit> = HashMap::new();
    let mut add = |hits: &[LegHit], is_bm25: bool| {
        for (i, hit) in hits.iter().enumerate() {
            let rank = i as u32 + 1;
            let entry = fused.entry(hit.id).or_insert(FusedHit {
                id: hit.id,
                score: 0.0,
                bm25: None,
                vector: None,
            });
            let slot = if is_bm25 {
                &mut entry.bm25
            } else {
                &mut entry.vector
            };
            // A leg lists a chunk once; should it repeat, its best rank counts.
            if slot.is_none() {
                *slot = Some(LegPosition {
                    rank,
                    score: hit.score,
                });
                entry.score += 1.0 / (f64::from(rrf_k) + f64::from(rank));
            }
        }
    };
    add(bm25, true);
    add(vector, false);
    let mut hits: Vec<FusedHit> = fused.into_values().collect();
    hits.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.id.cmp(&b.id)));
    hits
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
        let fused = reciprocal_rank_fusion(&leg(&[1, 2, 3]), &leg(&[3, 1, 4]), 60);
        let by_id = |id| fused.iter().find(|h| h.id == ChunkId(id)).unwrap();
        assert!((by_id(1).score - (1.0 / 61.0 + 1.0 / 62.0)).abs() < 1e-12);
        assert!((by_id(3).score - (1.0 / 63.0 + 1.0 / 61.0)).abs() < 1e-12);
        assert!((by_id(2).score - 1.0 / 62.0).abs() < 1e-12);
        assert!((by_id(4).score - 1.0 / 63.0).abs() < 1e-12);
        let order: Vec<u64> = fused.iter().map(|h| h.id.0).collect();
        assert_eq!(order, [1, 3, 2, 4]);
        assert_eq!(
            by_id(3).bm25,
            Some(LegPosition {
                rank: 3,
                score: 0.25
            })
        );
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
