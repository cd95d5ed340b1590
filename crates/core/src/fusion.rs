//! Ranking arithmetic shared by the retrieval service (fusing its own BM25 and vector legs)
//! and the gateway (fusing the legs it gathered from several shards), so that one shard and
//! many shards rank with exactly the same code:
//!
//! - [`merge_ranked`]: several ranked lists of one leg (one per shard) into one, best first,
//!   ties by ascending id, cut at the leg depth;
//! - [`fuse`]: two legs into one list by the chosen [`FusionMethod`]:
//!   - [`score_fusion`] (the default): each leg's scores are min-max normalised over the
//!     leg's own list (best → 1, worst → 0) and a chunk's fused score is the sum over legs
//!     (a leg that did not find it adds 0). How far apart the scores are survives, which rank
//!     fusion throws away: on BEIR SciFact it scores nDCG@10 0.724–0.729 against RRF's 0.719
//!     (docs/quality.md). Normalising over the list makes a score depend on the list's depth;
//!   - [`reciprocal_rank_fusion`]: a chunk at rank r (from 1) in a leg scores
//!     `1 / (rrf_k + r)` there, summed over legs. Ranks, not raw scores, are fused, so BM25 and
//!     cosine need no common scale.
//!
//!   Either way ties are broken by ascending id, so the same legs always give the same order;
//! - [`reciprocal_rank_fusion_of_lists`]: the same reciprocal rank fusion over any number of
//!   ranked lists (the gateway fuses one list per query variant or sub-question with it);
//! - [`single_leg`]: one leg in the fused shape (its score stays the leg's own).

use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::hash::Hash;

/// How the BM25 and vector legs of a hybrid search become one list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FusionMethod {
    /// Sum of min-max normalised leg scores ([`score_fusion`]).
    #[default]
    Score,
    /// Reciprocal rank fusion ([`reciprocal_rank_fusion`]).
    Rrf,
}

impl FusionMethod {
    /// Names clients and configuration use.
    pub const NAMES: [&'static str; 2] = ["score", "rrf"];

    pub fn name(self) -> &'static str {
        match self {
            FusionMethod::Score => "score",
            FusionMethod::Rrf => "rrf",
        }
    }

    /// The method called `name` (ASCII case and surrounding blanks ignored).
    pub fn parse(name: &str) -> Option<FusionMethod> {
        let name = name.trim();
        if name.eq_ignore_ascii_case("score") {
            Some(FusionMethod::Score)
        } else if name.eq_ignore_ascii_case("rrf") {
            Some(FusionMethod::Rrf)
        } else {
            None
        }
    }
}

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

/// Fuses two ranked legs of `(id, score)` (best first) into one list, best first, by
/// `method`; `rrf_k` is used by [`FusionMethod::Rrf`] only.
pub fn fuse<I: Copy + Eq + Hash + Ord>(
    bm25: &[(I, f32)],
    vector: &[(I, f32)],
    method: FusionMethod,
    rrf_k: u32,
) -> Vec<FusedHit<I>> {
    match method {
        FusionMethod::Score => score_fusion(bm25, vector),
        FusionMethod::Rrf => reciprocal_rank_fusion(bm25, vector, rrf_k),
    }
}

/// Reciprocal rank fusion: `Σ 1 / (rrf_k + rank)` over the legs a chunk is in.
pub fn reciprocal_rank_fusion<I: Copy + Eq + Hash + Ord>(
    bm25: &[(I, f32)],
    vector: &[(I, f32)],
    rrf_k: u32,
) -> Vec<FusedHit<I>> {
    combine(bm25, vector, |_| {
        move |rank: u32, _score: f32| rrf_gain(rrf_k, rank)
    })
}

/// What rank `rank` (from 1) of a list adds to a chunk's reciprocal rank fusion score.
fn rrf_gain(rrf_k: u32, rank: u32) -> f64 {
    1.0 / (f64::from(rrf_k) + f64::from(rank))
}

/// Reciprocal rank fusion of any number of ranked lists of ids (each best first):
/// `Σ 1 / (rrf_k + rank)` over the lists an id is in, best first, ties by ascending id. A list
/// names an id once; should it repeat, its best rank counts.
pub fn reciprocal_rank_fusion_of_lists<I: Copy + Eq + Hash + Ord>(
    lists: &[Vec<I>],
    rrf_k: u32,
) -> Vec<(I, f64)> {
    let mut scores: HashMap<I, f64> = HashMap::new();
    for list in lists {
        let mut seen = std::collections::HashSet::with_capacity(list.len());
        for (i, &id) in list.iter().enumerate() {
            if seen.insert(id) {
                *scores.entry(id).or_insert(0.0) += rrf_gain(rrf_k, i as u32 + 1);
            }
        }
    }
    let mut fused: Vec<(I, f64)> = scores.into_iter().collect();
    fused.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    fused
}

/// Score fusion: `Σ (score − min) / (max − min)` over the legs a chunk is in, min and max
/// taken over that leg's list (a leg whose scores are all equal gives each of them 1).
pub fn score_fusion<I: Copy + Eq + Hash + Ord>(
    bm25: &[(I, f32)],
    vector: &[(I, f32)],
) -> Vec<FusedHit<I>> {
    combine(bm25, vector, |hits: &[(I, f32)]| {
        let (lo, hi) = hits
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), h| {
                let s = f64::from(h.1);
                (lo.min(s), hi.max(s))
            });
        move |_rank: u32, score: f32| {
            if hi > lo {
                (f64::from(score) - lo) / (hi - lo)
            } else {
                1.0
            }
        }
    })
}

/// Sums `gain(rank, score)` over both legs per id, `gain` made for each leg by `gain_for`,
/// and sorts best first (ties by ascending id).
fn combine<I, G>(
    bm25: &[(I, f32)],
    vector: &[(I, f32)],
    gain_for: impl Fn(&[(I, f32)]) -> G,
) -> Vec<FusedHit<I>>
where
    I: Copy + Eq + Hash + Ord,
    G: Fn(u32, f32) -> f64,
{
    let mut fused: HashMap<I, FusedHit<I>> = HashMap::with_capacity(bm25.len() + vector.len());
    for (hits, is_bm25) in [(bm25, true), (vector, false)] {
        let gain = gain_for(hits);
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
                entry.score += gain(rank, score);
            }
        }
    }
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

    fn scored(pairs: &[(u64, f32)]) -> Vec<(u64, f32)> {
        pairs.to_vec()
    }

    #[test]
    fn score_fusion_sums_min_max_normalised_scores() {
        // BM25 10 → 1, 6 → 0.5, 2 → 0; cosine 0.9 → 1, 0.5 → 0.
        let bm25 = scored(&[(1, 10.0), (2, 6.0), (3, 2.0)]);
        let vector = scored(&[(3, 0.9), (4, 0.5)]);
        let fused = score_fusion(&bm25, &vector);
        let by_id = |id| fused.iter().find(|h| h.id == id).unwrap();
        assert!((by_id(1).score - 1.0).abs() < 1e-12);
        assert!((by_id(2).score - 0.5).abs() < 1e-12);
        assert!((by_id(3).score - 1.0).abs() < 1e-6);
        assert!(by_id(4).score.abs() < 1e-12);
        // 1 and 3 tie at 1.0: the smaller id first.
        let order: Vec<u64> = fused.iter().map(|h| h.id).collect();
        assert_eq!(order, [1, 3, 2, 4]);
        assert_eq!(by_id(3).bm25.map(|p| (p.rank, p.score)), Some((3, 2.0)));
        assert_eq!(by_id(3).vector.map(|p| p.rank), Some(1));
    }

    #[test]
    fn score_fusion_keeps_margins_rank_fusion_drops() {
        // The vector leg barely separates a from b; BM25 separates them widely. RRF sees two
        // mirror-image rankings and ties; score fusion follows the wide margin.
        let bm25 = scored(&[(1, 20.0), (2, 2.0), (3, 1.0)]);
        let vector = scored(&[(2, 0.81), (1, 0.80), (3, 0.10)]);
        let rrf = reciprocal_rank_fusion(&bm25, &vector, 60);
        assert!((rrf[0].score - rrf[1].score).abs() < 1e-12);
        let score = score_fusion(&bm25, &vector);
        assert_eq!(score[0].id, 1);
        assert!(score[0].score > score[1].score + 0.5);
    }

    #[test]
    fn score_fusion_of_a_flat_or_lone_leg_is_defined() {
        let flat = score_fusion(&scored(&[(7, 3.0), (5, 3.0)]), &[]);
        assert!(flat.iter().all(|h| (h.score - 1.0).abs() < 1e-12));
        assert_eq!(flat.iter().map(|h| h.id).collect::<Vec<_>>(), [5, 7]);
        assert!(score_fusion::<u64>(&[], &[]).is_empty());
        let lone = score_fusion(&[], &scored(&[(1, 0.2), (2, -0.4)]));
        assert_eq!(lone.iter().map(|h| h.id).collect::<Vec<_>>(), [1, 2]);
        assert!(lone.iter().all(|h| h.score.is_finite() && h.bm25.is_none()));
    }

    #[test]
    fn fuse_dispatches_on_the_method_and_names_round_trip() {
        let (b, v) = (leg(&[1, 2]), leg(&[2, 3]));
        assert_eq!(
            fuse(&b, &v, FusionMethod::Rrf, 60),
            reciprocal_rank_fusion(&b, &v, 60)
        );
        assert_eq!(fuse(&b, &v, FusionMethod::Score, 60), score_fusion(&b, &v));
        for name in FusionMethod::NAMES {
            assert_eq!(
                FusionMethod::parse(name).map(FusionMethod::name),
                Some(name)
            );
        }
        assert_eq!(FusionMethod::parse(" RRF "), Some(FusionMethod::Rrf));
        assert_eq!(FusionMethod::parse("combsum"), None);
        assert_eq!(FusionMethod::default(), FusionMethod::Score);
    }

    #[test]
    fn any_number_of_lists_fuse_by_reciprocal_rank() {
        let lists = vec![vec![1u64, 2, 3], vec![3, 4], vec![4, 3]];
        let fused = reciprocal_rank_fusion_of_lists(&lists, 60);
        let order: Vec<u64> = fused.iter().map(|(id, _)| *id).collect();
        assert_eq!(order, [3, 4, 1, 2]);
        assert!((fused[0].1 - (1.0 / 63.0 + 1.0 / 61.0 + 1.0 / 62.0)).abs() < 1e-12);
        // Two lists are what the two-leg fusion fuses: the same scores.
        let two = reciprocal_rank_fusion_of_lists(&[vec![1u64, 2, 3], vec![3, 1, 4]], 60);
        let legs = reciprocal_rank_fusion(&leg(&[1, 2, 3]), &leg(&[3, 1, 4]), 60);
        assert_eq!(
            two,
            legs.iter().map(|h| (h.id, h.score)).collect::<Vec<_>>()
        );
        // The constant matters: a small k favours the top of one list over the middle of two.
        let lists = vec![vec![1u64, 5, 6, 2], vec![7, 8, 9, 2]];
        let top = |k| reciprocal_rank_fusion_of_lists(&lists, k)[0].0;
        assert_eq!((top(1), top(60)), (1, 2));
        assert!(reciprocal_rank_fusion_of_lists::<u64>(&[], 60).is_empty());
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
