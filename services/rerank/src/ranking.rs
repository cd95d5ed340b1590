//! Turns per-passage scores into the response order: best first, ties kept in request order
//! (so equal scores never shuffle between calls), cut to `top_n`.

use ragmesh_proto::RerankResult;

/// Results for `scores[i]` = score of passage `i`, best first, at most `top_n` (0 = all).
pub(crate) fn rank_by_score(scores: &[f32], top_n: usize) -> Vec<RerankResult> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    // A NaN logit ranks last instead of poisoning the comparison.
    let key = |i: usize| {
        if scores[i].is_nan() {
            f32::NEG_INFINITY
        } else {
            scores[i]
        }
    };
    order.sort_by(|&a, &b| key(b).total_cmp(&key(a))); // stable: ties keep request order
    order
        .into_iter()
        .take(limit(scores.len(), top_n))
        .map(|i| RerankResult {
            index: i as u32,
            score: Some(scores[i]),
        })
        .collect()
}

/// Results when no reranker is configured: request order, no scores.
pub(crate) fn keep_input_order(count: usize, top_n: usize) -> Vec<RerankResult> {
    (0..limit(count, top_n))
        .map(|i| RerankResult {
            index: i as u32,
            score: None,
        })
        .collect()
}

fn limit(count: usize, top_n: usize) -> usize {
    if top_n == 0 { count } else { top_n.min(count) }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn indices(results: &[RerankResult]) -> Vec<u32> {
        results.iter().map(|r| r.index).collect()
    }

    #[test]
    fn best_first_with_ties_in_request_order() {
        let results = rank_by_score(&[0.5, 2.0, 0.5, -1.0, 2.0, f32::NAN], 0);
        assert_eq!(indices(&results), vec![1, 4, 0, 2, 3, 5]);
        assert_eq!(results[0].score, Some(2.0));
        assert_eq!(indices(&rank_by_score(&[0.5, 2.0, 0.5], 2)), vec![1, 0]);
        assert_eq!(indices(&rank_by_score(&[0.5, 2.0], 10)), vec![1, 0]);
        assert!(rank_by_score(&[], 3).is_empty());
    }

    #[test]
    fn input_order_has_no_scores() {
        let results = keep_input_order(4, 3);
        assert_eq!(indices(&results), vec![0, 1, 2]);
        assert!(results.iter().all(|r| r.score.is_none()));
        assert_eq!(keep_input_order(2, 0).len(), 2);
    }
}
