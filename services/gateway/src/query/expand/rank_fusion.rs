//! Reciprocal rank fusion of several ranked lists of chunks (one per query variant or
//! sub-question): `score = Σ 1/(rrf_k + rank)` over the lists a chunk appears in, rank from 1.
//! Chunks are the same when their id is (else source and chunk number); the first copy seen is
//! kept with the fused score.

use ragmesh_proto::v1::ScoredChunk;
use std::collections::HashMap;

/// The retrieval service's default constant, used when the query gives no `rrf_k`.
pub const DEFAULT_RRF_K: u32 = 60;

/// `lists` fused into one list, best first; ties keep first-seen order.
pub fn fuse(lists: Vec<Vec<ScoredChunk>>, rrf_k: u32) -> Vec<ScoredChunk> {
    let mut fused: Vec<(ScoredChunk, f64)> = Vec::new();
    let mut slot: HashMap<(String, String, u32), usize> = HashMap::new();
    for list in lists {
        for (rank, chunk) in list.into_iter().enumerate() {
            let gain = 1.0 / (f64::from(rrf_k) + rank as f64 + 1.0);
            let key = if chunk.id.is_empty() {
                (String::new(), chunk.source.clone(), chunk.chunk_index)
            } else {
                (chunk.id.clone(), String::new(), 0)
            };
            match slot.get(&key) {
                Some(&i) => fused[i].1 += gain,
                None => {
                    slot.insert(key, fused.len());
                    fused.push((chunk, gain));
                }
            }
        }
    }
    // Stable sort: equal scores keep first-seen order.
    fused.sort_by(|a, b| b.1.total_cmp(&a.1));
    fused
        .into_iter()
        .map(|(mut chunk, score)| {
            chunk.score = score as f32;
            chunk
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(id: &str) -> ScoredChunk {
        ScoredChunk {
            id: id.into(),
            source: format!("{id}.md"),
            ..ScoredChunk::default()
        }
    }

    fn ids(chunks: &[ScoredChunk]) -> Vec<&str> {
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
}
