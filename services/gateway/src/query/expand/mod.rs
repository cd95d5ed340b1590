//! Query expansion: retrieving for more texts than the question alone and fusing the lists
//! with reciprocal rank fusion — generated rewordings ([`rewrite`]) or sub-questions over
//! several hops ([`multihop`]). Both receive what they need as [`ExpansionCalls`] (one
//! retrieval for a text, the generator's reply to an instruction) and never call back into the
//! pipeline, so they are tested with fakes. The lists are fused with the RRF constant the
//! query asked for, else the retrieval service's configured `retrieval.rrf_k`.

pub mod multihop;
pub mod questions;
pub mod rewrite;

use crate::error::GatewayError;
use crate::query::profile::Profile;
use ragmesh_core::fusion::reciprocal_rank_fusion_of_lists;
use ragmesh_proto::v1::{Context, ScoredChunk};
use std::collections::HashMap;
use std::future::Future;
use std::time::{Duration, Instant};

/// What query expansion asks of the rest of the query, bound to one query's plan and request.
pub trait ExpansionCalls: Sync {
    /// One retrieval for `query` with the plan's collection, method and filters.
    fn retrieve(
        &self,
        query: &str,
    ) -> impl Future<Output = Result<Vec<ScoredChunk>, GatewayError>> + Send;

    /// The generator's full reply to `instruction` with `user` (and `contexts`) as the user
    /// turn.
    fn instructed_text(
        &self,
        instruction: &str,
        user: &str,
        contexts: Vec<Context>,
    ) -> impl Future<Output = Result<String, GatewayError>> + Send;
}

/// Retrieves every query concurrently; records `{step}.{i}` per query (detail: the query).
/// Returns the lists in query order and the wall time of the whole batch.
pub async fn retrieve_all(
    calls: &impl ExpansionCalls,
    queries: &[String],
    profile: &mut Profile,
    step: &str,
) -> Result<(Vec<Vec<ScoredChunk>>, Duration), GatewayError> {
    let started = Instant::now();
    let batch = queries.iter().map(|query| async move {
        let t = Instant::now();
        let result = calls.retrieve(query).await;
        (result, t.elapsed())
    });
    let results = futures::future::join_all(batch).await;
    let elapsed = started.elapsed();
    let mut lists = Vec::with_capacity(results.len());
    for (i, (query, (result, took))) in queries.iter().zip(results).enumerate() {
        profile.record_detail(format!("{step}.{i}"), took, query.clone());
        lists.push(result?);
    }
    Ok((lists, elapsed))
}

/// `lists` fused with reciprocal rank fusion (constant `rrf_k`, the arithmetic of
/// [`ragmesh_core::fusion`]), best first; ties keep first-seen order. Chunks are the same when
/// their id is (else source and chunk number); the first copy seen is kept, with the fused
/// score.
pub fn fuse(lists: Vec<Vec<ScoredChunk>>, rrf_k: u32) -> Vec<ScoredChunk> {
    let mut chunks: Vec<Option<ScoredChunk>> = Vec::new();
    let mut slot: HashMap<(String, String, u32), usize> = HashMap::new();
    // Each chunk as the order it was first seen in, so ascending ids are first-seen order.
    let ranked: Vec<Vec<usize>> = lists
        .into_iter()
        .map(|list| {
            list.into_iter()
                .map(|chunk| {
                    let key = if chunk.id.is_empty() {
                        (String::new(), chunk.source.clone(), chunk.chunk_index)
                    } else {
                        (chunk.id.clone(), String::new(), 0)
                    };
                    *slot.entry(key).or_insert_with(|| {
                        chunks.push(Some(chunk));
                        chunks.len() - 1
                    })
                })
                .collect()
        })
        .collect();
    reciprocal_rank_fusion_of_lists(&ranked, rrf_k)
        .into_iter()
        .filter_map(|(i, score)| {
            let mut chunk = chunks.get_mut(i)?.take()?;
            chunk.score = score as f32;
            Some(chunk)
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) mod tests {
    use super::*;

    pub fn chunk(id: &str) -> ScoredChunk {
        ScoredChunk {
            id: id.into(),
            source: format!("{id}.md"),
            ..ScoredChunk::default()
        }
    }

    pub fn ids(chunks: &[ScoredChunk]) -> Vec<&str> {
        chunks.iter().map(|c| c.id.as_str()).collect()
    }

    #[test]
    fn chunks_found_by_several_variants_rise() {
        let fused = fuse(
            vec![
                vec![chunk("a"), chunk("b"), chunk("c")],
                vec![chunk("c"), chunk("d")],
                vec![chunk("d"), chunk("c")],
            ],
            60,
        );
        assert_eq!(ids(&fused), ["c", "d", "a", "b"]);
        let expected_c = 1.0 / 63.0 + 1.0 / 61.0 + 1.0 / 62.0;
        assert!((f64::from(fused[0].score) - expected_c).abs() < 1e-6);
    }

    #[test]
    fn one_list_keeps_its_order_and_empty_lists_are_harmless() {
        let fused = fuse(vec![vec![chunk("x"), chunk("y")], vec![]], 60);
        assert_eq!(ids(&fused), ["x", "y"]);
        assert!(fuse(vec![], 60).is_empty());
    }

    #[test]
    fn ties_keep_first_seen_order_and_chunks_without_ids_match_by_source() {
        let unnamed = |source: &str, n: u32| ScoredChunk {
            source: source.into(),
            chunk_index: n,
            ..ScoredChunk::default()
        };
        let fused = fuse(
            vec![
                vec![chunk("z"), unnamed("s.md", 1)],
                vec![chunk("y"), unnamed("s.md", 1), unnamed("s.md", 2)],
            ],
            60,
        );
        let names: Vec<String> = fused
            .iter()
            .map(|c| format!("{}{}", c.source, c.chunk_index))
            .collect();
        assert_eq!(names, ["s.md1", "z.md0", "y.md0", "s.md2"]);
    }
}
