//! The chosen chunks as numbered sources: the reranker's order checked and applied (a
//! reranker that answers for fewer or other passages broke its contract), and the numbers
//! `1..n` the answer cites them by.

use crate::api::responses::Source;
use crate::backends::backend::Backend;
use crate::error::GatewayError;
use ragmesh_proto::v1::{RerankResult, ScoredChunk};
use ragmesh_retrieval_client::ServiceError;

/// The best `k` candidates in the reranker's order, each with its rerank score. Fewer results
/// than min(k, candidates) would silently shrink the answer's sources, and an index out of
/// range or repeated means the reranker scored something else: both are errors.
pub fn reorder_by_rerank(
    candidates: Vec<ScoredChunk>,
    results: &[RerankResult],
    k: usize,
) -> Result<Vec<(ScoredChunk, Option<f32>)>, GatewayError> {
    let expected = candidates.len().min(k);
    if results.len() < expected {
        return Err(ServiceError::BadAnswer {
            service: Backend::Rerank.name(),
            message: format!("asked for {expected} results, got {}", results.len()),
        }
        .into());
    }
    let passages = candidates.len();
    let mut slots: Vec<Option<ScoredChunk>> = candidates.into_iter().map(Some).collect();
    let mut chosen = Vec::with_capacity(expected);
    for result in results.iter().take(expected) {
        let Some(chunk) = slots.get_mut(result.index as usize).and_then(Option::take) else {
            return Err(ServiceError::BadAnswer {
                service: Backend::Rerank.name(),
                message: format!(
                    "result index {} is out of range or repeated ({passages} passages)",
                    result.index
                ),
            }
            .into());
        };
        chosen.push((chunk, result.score));
    }
    Ok(chosen)
}

pub fn number_sources(chosen: Vec<(ScoredChunk, Option<f32>)>, collection: &str) -> Vec<Source> {
    chosen
        .into_iter()
        .enumerate()
        .map(|(i, (chunk, rerank_score))| Source {
            index: i + 1,
            source: chunk.source,
            chunk: chunk.chunk_index,
            text: chunk.text,
            score: chunk.score,
            rerank_score,
            vector_score: chunk.vector_score,
            bm25_score: chunk.bm25_score,
            collection: collection.to_string(),
            metadata: chunk.metadata.into_iter().collect(),
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn chunk(source: &str) -> ScoredChunk {
        ScoredChunk {
            source: source.into(),
            text: format!("text of {source}"),
            ..ScoredChunk::default()
        }
    }

    fn result(index: u32, score: Option<f32>) -> RerankResult {
        RerankResult { index, score }
    }

    #[test]
    fn reranked_order_and_scores_are_kept_and_cut_to_k() {
        let candidates = vec![chunk("a"), chunk("b"), chunk("c")];
        let results = [
            result(2, Some(3.5)),
            result(0, Some(1.0)),
            result(1, Some(-2.0)),
        ];
        let chosen = reorder_by_rerank(candidates, &results, 2).unwrap();
        let order: Vec<(&str, Option<f32>)> = chosen
            .iter()
            .map(|(c, s)| (c.source.as_str(), *s))
            .collect();
        assert_eq!(order, [("c", Some(3.5)), ("a", Some(1.0))]);

        let numbered = number_sources(chosen, "docs");
        assert_eq!((numbered[0].index, numbered[1].index), (1, 2));
        assert_eq!(numbered[0].rerank_score, Some(3.5));
        assert_eq!(numbered[1].collection, "docs");
    }

    #[test]
    fn reranker_none_keeps_retrieval_order_without_scores() {
        let candidates = vec![chunk("a"), chunk("b")];
        let chosen = reorder_by_rerank(candidates, &[result(0, None), result(1, None)], 5).unwrap();
        let order: Vec<&str> = chosen.iter().map(|(c, _)| c.source.as_str()).collect();
        assert_eq!(order, ["a", "b"]);
        assert!(chosen.iter().all(|(_, score)| score.is_none()));
    }

    #[test]
    fn broken_rerank_answers_are_errors_not_shorter_answers() {
        let err = |results: &[RerankResult]| {
            reorder_by_rerank(vec![chunk("a"), chunk("b"), chunk("c")], results, 2)
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            err(&[result(0, None)]),
            "rerank service broke its contract: asked for 2 results, got 1"
        );
        assert!(
            err(&[result(0, None), result(9, None)])
                .contains("index 9 is out of range or repeated")
        );
        assert!(
            err(&[result(1, None), result(1, None)])
                .contains("index 1 is out of range or repeated")
        );
    }
}
