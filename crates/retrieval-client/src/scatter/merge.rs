//! Putting the answers of several retrieval shards back together (the gather of
//! scatter-gather), so that a sharded collection answers exactly as one index holding every
//! document would:
//!
//! - BM25 counts ([`sum_stats`]) are summed before the search, which every shard then scores
//!   with;
//! - each leg's lists are merged by score (ties by ascending chunk id, as every leg breaks
//!   them), cut at the leg depth the shards used, and fused with the retrieval service's own
//!   fusion code and the method the shards report ([`ragmesh_core::fusion`]) — see
//!   [`fuse_shard_legs`];
//! - listings and ingest reports add up.

use ragmesh_core::fusion::{FusedHit, FusionMethod, fuse, merge_ranked, single_leg};
use ragmesh_proto::v1::{
    Bm25Stats, CollectionInfo, Fusion, IngestResponse, ListCollectionsResponse,
    ListDocumentsResponse, Method, RetrieveResponse, ScoredChunk,
};
use std::collections::{BTreeMap, HashMap};

/// The shards' BM25 counts as one collection's.
pub fn sum_stats(parts: impl IntoIterator<Item = Bm25Stats>) -> Bm25Stats {
    let mut total = Bm25Stats::default();
    for part in parts {
        total.total_docs += part.total_docs;
        total.total_tokens += part.total_tokens;
        for (term, n) in part.doc_freqs {
            *total.doc_freqs.entry(term).or_insert(0) += n;
        }
    }
    total
}

/// A chunk id (16 hex digits) as the number legs order ties by.
fn id_number(chunk: &ScoredChunk) -> u64 {
    u64::from_str_radix(&chunk.id, 16).unwrap_or(u64::MAX)
}

/// One leg gathered from every shard: best `depth` first.
fn merge_leg(lists: Vec<Vec<ScoredChunk>>, depth: usize) -> Vec<(u64, f32, ScoredChunk)> {
    let keyed: Vec<Vec<(u64, f32, ScoredChunk)>> = lists
        .into_iter()
        .map(|list| {
            list.into_iter()
                .map(|c| (id_number(&c), c.score, c))
                .collect()
        })
        .collect();
    merge_ranked(keyed, depth, |(id, score, _)| (*score, *id))
}

/// The best `k` chunks of the legs the shards returned (`legs` mode), fused as one index
/// would fuse them: hybrid by the fusion and RRF constant the shards report, one leg by its
/// own score.
pub fn fuse_shard_legs(
    responses: Vec<RetrieveResponse>,
    method: Method,
    k: usize,
) -> Vec<ScoredChunk> {
    let depth = responses
        .iter()
        .map(|r| r.leg_depth as usize)
        .max()
        .unwrap_or(0);
    let rrf_k = responses.first().map_or(60, |r| r.rrf_k);
    let fusion = match responses.first().map(|r| r.fusion()) {
        Some(Fusion::Rrf) => FusionMethod::Rrf,
        // A shard always reports what it used; an older one that does not fused with RRF.
        Some(Fusion::Unspecified) => FusionMethod::Rrf,
        Some(Fusion::Score) | None => FusionMethod::Score,
    };
    let (bm25_lists, vector_lists): (Vec<_>, Vec<_>) = responses
        .into_iter()
        .map(|r| (r.bm25_leg, r.vector_leg))
        .unzip();
    let bm25 = merge_leg(bm25_lists, depth);
    let vector = merge_leg(vector_lists, depth);
    let pairs = |leg: &[(u64, f32, ScoredChunk)]| -> Vec<(u64, f32)> {
        leg.iter().map(|(id, score, _)| (*id, *score)).collect()
    };
    let ranked: Vec<FusedHit<u64>> = match method {
        Method::Bm25 => single_leg(&pairs(&bm25), true),
        Method::Vector => single_leg(&pairs(&vector), false),
        Method::Hybrid | Method::Unspecified => fuse(&pairs(&bm25), &pairs(&vector), fusion, rrf_k),
    };
    let mut chunks: HashMap<u64, ScoredChunk> = HashMap::new();
    for (id, _, chunk) in vector.into_iter().chain(bm25) {
        chunks.insert(id, chunk);
    }
    ranked
        .into_iter()
        .filter_map(|hit| {
            let mut chunk = chunks.remove(&hit.id)?;
            chunk.score = hit.score as f32;
            chunk.bm25_score = hit.bm25.map(|p| p.score);
            chunk.bm25_rank = hit.bm25.map(|p| p.rank);
            chunk.vector_score = hit.vector.map(|p| p.score);
            chunk.vector_rank = hit.vector.map(|p| p.rank);
            Some(chunk)
        })
        .take(k)
        .collect()
}

/// Collections of every shard, their sizes summed, by name.
pub fn merge_collections(parts: Vec<ListCollectionsResponse>) -> ListCollectionsResponse {
    let mut by_name: BTreeMap<String, CollectionInfo> = BTreeMap::new();
    for info in parts.into_iter().flat_map(|p| p.collections) {
        let entry = by_name
            .entry(info.name.clone())
            .or_insert_with(|| CollectionInfo {
                name: info.name.clone(),
                ..CollectionInfo::default()
            });
        entry.documents += info.documents;
        entry.chunks += info.chunks;
    }
    ListCollectionsResponse {
        collections: by_name.into_values().collect(),
    }
}

/// Documents of every shard (each lives on one), ordered by source.
pub fn merge_documents(parts: Vec<ListDocumentsResponse>) -> ListDocumentsResponse {
    let mut documents: Vec<_> = parts.into_iter().flat_map(|p| p.documents).collect();
    documents.sort_by(|a, b| a.source.cmp(&b.source));
    ListDocumentsResponse { documents }
}

/// One ingest's reports from the shards that took part of it.
pub fn merge_ingest(collection: &str, parts: Vec<IngestResponse>) -> IngestResponse {
    let mut total = IngestResponse {
        collection: collection.to_string(),
        ..IngestResponse::default()
    };
    for part in parts {
        total.documents += part.documents;
        total.chunks += part.chunks;
        total.chunks_added += part.chunks_added;
        total.chunks_removed += part.chunks_removed;
    }
    total
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn chunk(id: u64, score: f32) -> ScoredChunk {
        ScoredChunk {
            id: format!("{id:016x}"),
            source: format!("doc{id}"),
            score,
            ..ScoredChunk::default()
        }
    }

    fn legs(bm25: Vec<ScoredChunk>, vector: Vec<ScoredChunk>, depth: u32) -> RetrieveResponse {
        RetrieveResponse {
            bm25_leg: bm25,
            vector_leg: vector,
            leg_depth: depth,
            rrf_k: 60,
            ..RetrieveResponse::default()
        }
    }

    fn ids(chunks: &[ScoredChunk]) -> Vec<String> {
        chunks.iter().map(|c| c.source.clone()).collect()
    }

    #[test]
    fn stats_of_shards_add_up() {
        let a = Bm25Stats {
            total_docs: 3,
            total_tokens: 40,
            doc_freqs: HashMap::from([("lava".into(), 2)]),
        };
        let b = Bm25Stats {
            total_docs: 5,
            total_tokens: 60,
            doc_freqs: HashMap::from([("lava".into(), 1), ("rust".into(), 5)]),
        };
        let total = sum_stats([a, b]);
        assert_eq!((total.total_docs, total.total_tokens), (8, 100));
        assert_eq!(total.doc_freqs["lava"], 3);
        assert_eq!(total.doc_freqs["rust"], 5);
    }

    #[test]
    fn legs_merge_across_shards_as_one_index_ranks_them() {
        for fusion in [Fusion::Score, Fusion::Rrf] {
            let with = |mut r: RetrieveResponse| {
                r.fusion = fusion as i32;
                r
            };
            // One index's legs (depth 3): bm25 [1, 2, 3], vector [3, 4, 1].
            let one = with(legs(
                vec![chunk(1, 9.0), chunk(2, 7.0), chunk(3, 5.0)],
                vec![chunk(3, 0.9), chunk(4, 0.8), chunk(1, 0.7)],
                3,
            ));
            // The same chunks on two shards; each shard cut its legs at depth 3 too.
            let shard_a = with(legs(
                vec![chunk(1, 9.0), chunk(3, 5.0)],
                vec![chunk(3, 0.9), chunk(1, 0.7)],
                3,
            ));
            let shard_b = with(legs(
                vec![chunk(2, 7.0), chunk(5, 1.0)],
                vec![chunk(4, 0.8), chunk(2, 0.1), chunk(5, 0.05)],
                3,
            ));
            for method in [Method::Hybrid, Method::Bm25, Method::Vector] {
                let single = fuse_shard_legs(vec![one.clone()], method, 3);
                let sharded = fuse_shard_legs(vec![shard_b.clone(), shard_a.clone()], method, 3);
                assert_eq!(ids(&single), ids(&sharded), "{method:?} {fusion:?}");
                for (x, y) in single.iter().zip(&sharded) {
                    assert_eq!(x.score, y.score);
                    assert_eq!(x.bm25_rank, y.bm25_rank);
                    assert_eq!(x.vector_rank, y.vector_rank);
                }
            }
            let hybrid = fuse_shard_legs(vec![shard_a, shard_b], Method::Hybrid, 10);
            // 1 and 3 are in both legs; 5 was cut from both legs at depth 3. RRF ties 2 and 4
            // (rank 2 of one leg each: the smaller id first); score fusion puts 4 (0.8 of
            // 0.7..0.9, a hair over half) above 2 (7 of 5..9, exactly half).
            let expected = match fusion {
                Fusion::Score => ["doc1", "doc3", "doc4", "doc2"],
                _ => ["doc1", "doc3", "doc2", "doc4"],
            };
            assert_eq!(ids(&hybrid), expected, "{fusion:?}");
            assert_eq!(hybrid[0].bm25_rank, Some(1));
            assert_eq!(hybrid[0].vector_rank, Some(3));
            // Score fusion: doc1 is best in BM25 (1) and worst in the vector list (0).
            let top = match fusion {
                Fusion::Score => 1.0,
                _ => 1.0 / 61.0 + 1.0 / 63.0,
            };
            assert!((hybrid[0].score - top).abs() < 1e-6, "{fusion:?}");
        }
    }

    #[test]
    fn the_fusion_the_shards_report_is_the_one_used() {
        // bm25 [1: 20, 2: 2, 3: 1], vector [2: .81, 1: .80, 3: .10]: RRF ties 1 and 2, score
        // fusion keeps BM25's wide margin for 1.
        let mut response = legs(
            vec![chunk(1, 20.0), chunk(2, 2.0), chunk(3, 1.0)],
            vec![chunk(2, 0.81), chunk(1, 0.80), chunk(3, 0.10)],
            3,
        );
        response.fusion = Fusion::Score as i32;
        let score = fuse_shard_legs(vec![response.clone()], Method::Hybrid, 3);
        assert!(score[0].score > score[1].score + 0.5);
        response.fusion = Fusion::Rrf as i32;
        let rrf = fuse_shard_legs(vec![response], Method::Hybrid, 3);
        assert_eq!(rrf[0].score, rrf[1].score);
    }

    #[test]
    fn equal_scores_rank_by_chunk_id_whichever_shard_answers_first() {
        let a = legs(vec![chunk(9, 1.0)], vec![], 5);
        let b = legs(vec![chunk(2, 1.0)], vec![], 5);
        let merged = fuse_shard_legs(vec![a, b], Method::Bm25, 5);
        assert_eq!(ids(&merged), ["doc2", "doc9"]);
    }

    #[test]
    fn listings_add_up() {
        let info = |name: &str, documents, chunks| CollectionInfo {
            name: name.into(),
            documents,
            chunks,
        };
        let merged = merge_collections(vec![
            ListCollectionsResponse {
                collections: vec![info("b", 1, 4), info("a", 2, 5)],
            },
            ListCollectionsResponse {
                collections: vec![info("a", 1, 1)],
            },
        ]);
        assert_eq!(merged.collections, vec![info("a", 3, 6), info("b", 1, 4)]);
        let report = merge_ingest(
            "c",
            vec![
                IngestResponse {
                    documents: 2,
                    chunks: 5,
                    ..IngestResponse::default()
                },
                IngestResponse {
                    documents: 1,
                    chunks: 2,
                    ..IngestResponse::default()
                },
            ],
        );
        assert_eq!((report.documents, report.chunks), (3, 7));
    }
}
