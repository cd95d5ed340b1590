//! Ranking arithmetic shared by the retrieval service (fusing its own BM25 and vector legs)
//! and the gateway (fusing the legs it gathered from several shards), so that one shard and
//! many shards rank with exactly the same code:
//!
//! - [`merge_ranked`]: several ranked lists of one leg (one per shard) into one, best first,
//!   ties by ascending id, cut at the leg depth;
//! - [`reciprocal_rank_fusion`]: a chunk at rank r (from 1) in a leg scores `1 / (rrf_k + r)`
//!   there, and its fused score is the sum over legs. Ranks, not raw scores, are fused, so BM25
//!   and cosine need no common scale. Ties are broken by id so the same legs always give the
//!   same order;
//! - [`single_leg`]: one leg in the fused shape (its score stays the leg's own).

use std::collections::HashMap;
use std::hash::Hash;

/// Where a chunk stood in one leg.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LegPosition {
    /// 1-based.
    pub rank: u32,
    pub score: f32,
}

/// A chunk after fusion.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FusedHit<I> {
    pub id: I,
    pub score: f64,
    pub bm25: Option<LegPosition>,
    pub vector: Option<LegPosition>,
}

/// Fuses two ranked legs of `(id, score)` (best first) into one list, best first.
pub fn reciprocal_rank_fusion<I: Copy + Eq + Hash + Ord>(
    bm25: &[(I, f32)],
    vector: &[(I, f32)],
    rrf_k: u32,
) -> Vec<FusedHit<I>> {
    let mut fused: HashMap<I, FusedHit<I>> = HashMap::new();
    let mut add = |hits: &[(I, f32)], is_bm25: bool| {
        for (i, &(id, score)) in hits.iter().enumerate() {
            let rank = i as u32 + 1;
            let entry = fused.entry(id).or_insert(FusedHit {
                id,
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
                *slot = Some(LegPosition { rank, score });
                entry.score += 1.0 / (f64::from(rrf_k) + f64::from(rank));
            }
        }
    };
    add(bm25, true);
    add(vector, false);
    let mut hits: Vec<FusedHit<I>> = fused.into_values().collect();
    hits.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.id.cmp(&b.id)));
    hits
}

/// One leg's hits in the fused shape; the score stays the leg's own (BM25 or cosine).
pub fn single_leg<I: Copy>(hits: &[(I, f32)], is_bm25: bool) -> Vec<FusedHit<I>> {
    hits.iter()
        .enumerate()
        .map(|(i, &(id, score))| {
            let position = Some(LegPosition {
                rank: i as u32 + 1,
                score,
            });
            FusedHit {
                id,
                score: f64::from(score),
                bm25: if is_bm25 { position } else { None },
                vector: if is_bm25 { None } else { position },
            }
        })
        .collect()
}

/// Several ranked lists of the same leg (each best first) as one: the best `depth` items by
/// `key` (score descending, then id ascending — the order every leg uses for ties).
pub fn merge_ranked<T, I: Ord>(
    lists: Vec<Vec<T>>,
    depth: usize,
    key: impl Fn(&T) -> (f32, I),
) -> Vec<T> {
    let mut all: Vec<T> = lists.into_iter().flatten().collect();
    all.sort_by(|a, b| {
        let (score_a, id_a) = key(a);
        let (score_b, id_b) = key(b);
        score_b.total_cmp(&score_a).then(id_a.cmp(&id_b))
    });
    all.truncate(depth);
    all
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn leg(ids: &[u64]) -> Vec<(u64, f32)> {
        ids.iter()
            .map(|&id| (id, 1.0 / (id as f32 + 1.0)))
            .collect()
    }

    #[test]
    fn sums_reciprocal_ranks_over_legs() {
        let fused = reciprocal_rank_fusion(&leg(&[1, 2, 3]), &leg(&[3, 1, 4]), 60);
        let by_id = |id| fused.iter().find(|h| h.id == id).unwrap();
        assert!((by_id(1).score - (1.0 / 61.0 + 1.0 / 62.0)).abs() < 1e-12);
        assert!((by_id(3).score - (1.0 / 63.0 + 1.0 / 61.0)).abs() < 1e-12);
        let order: Vec<u64> = fused.iter().map(|h| h.id).collect();
        assert_eq!(order, [1, 3, 2, 4]);
        assert_eq!(
            by_id(3).bm25,
            Some(LegPosition {
                rank: 3,
                score: 0.25
            })
        );
        assert_eq!(by_id(4).bm25, None);
    }

    #[test]
    fn single_leg_keeps_scores_and_ranks() {
        let hits = single_leg(&leg(&[7, 3]), false);
        assert_eq!(hits[1].vector.map(|p| p.rank), Some(2));
        assert_eq!(hits[0].score, f64::from(1.0f32 / 8.0));
        assert!(hits.iter().all(|h| h.bm25.is_none()));
    }

    #[test]
    fn merging_shard_legs_equals_ranking_the_union() {
        // The union ranked at once (score desc, id asc), cut at 4 ...
        let union = [(5u64, 0.9f32), (2, 0.7), (9, 0.7), (4, 0.5), (1, 0.1)];
        // ... equals merging two shards' legs, each ranked and cut at the same depth.
        let shard_a = vec![(5u64, 0.9f32), (9, 0.7), (1, 0.1)];
        let shard_b = vec![(2u64, 0.7f32), (4, 0.5)];
        let merged = merge_ranked(vec![shard_b, shard_a], 4, |&(id, s)| (s, id));
        assert_eq!(merged, union[..4].to_vec());
        assert!(merge_ranked(Vec::<Vec<(u64, f32)>>::new(), 3, |&(id, s)| (s, id)).is_empty());
    }
}
