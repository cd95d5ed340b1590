//! Ranking metrics with the semantics of pytrec_eval (trec_eval), so the numbers compare with
//! the published BEIR/MTEB tables:
//!
//! - nDCG@k: gain = the graded relevance of the qrels (≤ 0 counts as 0), discount
//!   `log2(rank + 1)` with ranks from 1; the ideal DCG sorts every judged-relevant document of
//!   the query by grade, whether or not it was retrieved.
//! - recall@k: relevant documents (grade > 0) in the top k over all relevant documents.
//! - MRR@k: 1 / rank of the first relevant document in the top k, else 0.
//!
//! A ranking here is a list of document ids, best first; ties were already broken by the
//! order the service returned (this harness never re-sorts by score). Queries without a
//! relevant document are skipped by the caller ([`score_query`] returns None for them).

use std::collections::{HashMap, HashSet};

/// Graded judgements of one query: document id → relevance grade.
pub type Judgements = HashMap<String, i32>;

/// The three scores of one query.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QueryScores {
    pub ndcg_at_10: f64,
    pub recall_at_100: f64,
    pub mrr_at_10: f64,
}

/// Documents in the order of their best chunk: a document's rank is the rank of its first
/// (best) chunk in `chunk_sources`, later chunks of the same document are dropped.
pub fn documents_by_best_chunk<'a>(
    chunk_sources: impl IntoIterator<Item = &'a str>,
) -> Vec<String> {
    let mut seen = HashSet::new();
    chunk_sources
        .into_iter()
        .filter(|source| seen.insert(*source))
        .map(str::to_string)
        .collect()
}

fn gain(judged: &Judgements, doc: &str) -> f64 {
    judged.get(doc).map_or(0.0, |&g| f64::from(g.max(0)))
}

fn discount(rank: usize) -> f64 {
    (rank as f64 + 1.0).log2()
}

/// nDCG@k of `ranking`; 0 when the query has no relevant document.
pub fn ndcg_at(ranking: &[String], judged: &Judgements, k: usize) -> f64 {
    let dcg: f64 = ranking
        .iter()
        .take(k)
        .enumerate()
        .map(|(i, doc)| gain(judged, doc) / discount(i + 1))
        .sum();
    let mut ideal: Vec<f64> = judged
        .values()
        .filter(|&&g| g > 0)
        .map(|&g| f64::from(g))
        .collect();
    ideal.sort_by(|a, b| b.total_cmp(a));
    let idcg: f64 = ideal
        .iter()
        .take(k)
        .enumerate()
        .map(|(i, g)| g / discount(i + 1))
        .sum();
    if idcg > 0.0 { dcg / idcg } else { 0.0 }
}

/// Share of the relevant documents found in the top k; 0 when there are none.
pub fn recall_at(ranking: &[String], judged: &Judgements, k: usize) -> f64 {
    let relevant = judged.values().filter(|&&g| g > 0).count();
    if relevant == 0 {
        return 0.0;
    }
    let found = ranking
        .iter()
        .take(k)
        .filter(|doc| gain(judged, doc) > 0.0)
        .count();
    found as f64 / relevant as f64
}

/// 1 / rank of the first relevant document within the top k, else 0.
pub fn reciprocal_rank_at(ranking: &[String], judged: &Judgements, k: usize) -> f64 {
    ranking
        .iter()
        .take(k)
        .position(|doc| gain(judged, doc) > 0.0)
        .map_or(0.0, |i| 1.0 / (i as f64 + 1.0))
}

/// Every metric for one query, or None when it has no relevant document (skipped, as
/// pytrec_eval and BEIR do).
pub fn score_query(ranking: &[String], judged: &Judgements) -> Option<QueryScores> {
    if !judged.values().any(|&g| g > 0) {
        return None;
    }
    Some(QueryScores {
        ndcg_at_10: ndcg_at(ranking, judged, 10),
        recall_at_100: recall_at(ranking, judged, 100),
        mrr_at_10: reciprocal_rank_at(ranking, judged, 10),
    })
}

/// Mean of each metric over queries (all zeros for none).
pub fn mean_scores(scores: &[QueryScores]) -> QueryScores {
    let n = scores.len().max(1) as f64;
    let sum = |f: fn(&QueryScores) -> f64| scores.iter().map(f).sum::<f64>() / n;
    QueryScores {
        ndcg_at_10: sum(|s| s.ndcg_at_10),
        recall_at_100: sum(|s| s.recall_at_100),
        mrr_at_10: sum(|s| s.mrr_at_10),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn ranking(ids: &[&str]) -> Vec<String> {
        ids.iter().map(|s| s.to_string()).collect()
    }

    fn judged(pairs: &[(&str, i32)]) -> Judgements {
        pairs.iter().map(|(d, g)| (d.to_string(), *g)).collect()
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn ndcg_uses_graded_gains_and_the_ideal_order_of_all_judged_documents() {
        // Grades: a=2, b=1, c=0 (judged, not relevant), z=3 never retrieved.
        let q = judged(&[("a", 2), ("b", 1), ("c", 0), ("z", 3)]);
        // Retrieved x, a, c, b: DCG = 2/log2(3) + 1/log2(5) = 1.2618595 + 0.4306766
        let dcg = 2.0 / 3f64.log2() + 1.0 / 5f64.log2();
        // Ideal z, a, b: 3/1 + 2/log2(3) + 1/2
        let idcg = 3.0 + 2.0 / 3f64.log2() + 0.5;
        let got = ndcg_at(&ranking(&["x", "a", "c", "b"]), &q, 10);
        assert!(close(got, dcg / idcg), "{got} vs {}", dcg / idcg);
        assert!((got - 0.355_435_95).abs() < 1e-8, "{got}");
    }

    #[test]
    fn ties_keep_the_order_returned() {
        // Two documents the service scored equally: the one it listed first gets rank 1.
        let q = judged(&[("a", 2), ("b", 1)]);
        let first_a = ndcg_at(&ranking(&["a", "b"]), &q, 10);
        let first_b = ndcg_at(&ranking(&["b", "a"]), &q, 10);
        assert!(close(first_a, 1.0));
        let expected = (1.0 + 2.0 / 3f64.log2()) / (2.0 + 1.0 / 3f64.log2());
        assert!(close(first_b, expected), "{first_b} vs {expected}");
        assert_eq!(
            documents_by_best_chunk(["d2", "d1", "d2", "d3", "d1"]),
            ranking(&["d2", "d1", "d3"])
        );
    }

    #[test]
    fn fewer_than_ten_results_score_what_is_there() {
        let q = judged(&[("a", 1), ("b", 1)]);
        // Only three results, b at rank 3: DCG = 1/log2(4) = 0.5; IDCG = 1 + 1/log2(3).
        let got = ndcg_at(&ranking(&["x", "y", "b"]), &q, 10);
        assert!(close(got, 0.5 / (1.0 + 1.0 / 3f64.log2())), "{got}");
        assert!(close(
            reciprocal_rank_at(&ranking(&["x", "y", "b"]), &q, 10),
            1.0 / 3.0
        ));
        assert_eq!(ndcg_at(&[], &q, 10), 0.0);
        assert_eq!(reciprocal_rank_at(&[], &q, 10), 0.0);
    }

    #[test]
    fn cut_offs_are_respected() {
        let q = judged(&[("a", 1)]);
        let mut eleven: Vec<String> = (0..10).map(|i| format!("x{i}")).collect();
        eleven.push("a".into());
        assert_eq!(ndcg_at(&eleven, &q, 10), 0.0);
        assert_eq!(reciprocal_rank_at(&eleven, &q, 10), 0.0);
        assert!(close(recall_at(&eleven, &q, 100), 1.0));
        assert_eq!(recall_at(&eleven, &q, 10), 0.0);
    }

    #[test]
    fn recall_divides_by_the_relevant_documents_even_when_fewer_than_k() {
        let q = judged(&[("a", 1), ("b", 2), ("c", 0), ("d", 1)]);
        // Three relevant documents; two of them retrieved among 5 results.
        let got = recall_at(&ranking(&["a", "x", "c", "b", "y"]), &q, 100);
        assert!(close(got, 2.0 / 3.0), "{got}");
    }

    #[test]
    fn queries_without_relevant_documents_are_skipped_and_means_average() {
        assert_eq!(score_query(&ranking(&["a"]), &judged(&[("a", 0)])), None);
        let hit = score_query(&ranking(&["a"]), &judged(&[("a", 1)])).unwrap();
        let miss = score_query(&ranking(&["b"]), &judged(&[("a", 1)])).unwrap();
        assert_eq!(
            (hit.ndcg_at_10, hit.recall_at_100, hit.mrr_at_10),
            (1.0, 1.0, 1.0)
        );
        let mean = mean_scores(&[hit, miss]);
        assert_eq!(
            (mean.ndcg_at_10, mean.recall_at_100, mean.mrr_at_10),
            (0.5, 0.5, 0.5)
        );
    }
}
