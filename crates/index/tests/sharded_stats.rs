//! A collection split over shards scores BM25 exactly as one index holding every chunk, once
//! each shard searches with the summed `term_stats` of all shards (`search_legs`); with only
//! its own counts it would not.
#![allow(clippy::unwrap_used)]

mod common;

use common::{corpus, embed, embed_all};
use ragmesh_index::{Bm25Stats, Collections, Filters, FusionMethod, Method, SearchRequest};
use std::collections::HashMap;

#[test]
fn shards_score_bm25_as_one_index_with_summed_statistics() {
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let open = |i: usize| {
        Collections::new(dirs[i].path())
            .unwrap()
            .get_or_create("docs")
            .unwrap()
    };
    let (whole, shard_a, shard_b) = (open(0), open(1), open(2));
    let mut documents = corpus();
    whole.upsert(documents.clone(), embed_all).unwrap();
    let orbits = documents.split_off(2);
    shard_a.upsert(documents, embed_all).unwrap();
    shard_b.upsert(orbits, embed_all).unwrap();

    let query = "bread crust lava orbit speed";
    let vector = embed(query);
    let filters = Filters::new();
    let request = SearchRequest {
        text: query,
        vector: Some(&vector),
        k: 10,
        method: Method::Hybrid,
        fusion: FusionMethod::default(),
        rrf_k: 60,
        leg_depth_factor: 4,
        filters: &filters,
    };
    let bm25_scores = |legs: ragmesh_index::SearchLegs| -> HashMap<u64, f32> {
        legs.bm25
            .unwrap()
            .into_iter()
            .map(|h| (h.id.0, h.bm25_score.unwrap()))
            .collect()
    };
    let expected = bm25_scores(whole.search_legs(&request, None).unwrap());

    let mut stats = Bm25Stats::default();
    stats.add(&shard_a.term_stats(query).unwrap());
    stats.add(&shard_b.term_stats(query).unwrap());
    assert_eq!(stats, whole.term_stats(query).unwrap());
    let mut global = bm25_scores(shard_a.search_legs(&request, Some(&stats)).unwrap());
    global.extend(bm25_scores(
        shard_b.search_legs(&request, Some(&stats)).unwrap(),
    ));
    assert_eq!(
        global, expected,
        "summed statistics: the same scores, bit for bit"
    );

    let mut local = bm25_scores(shard_a.search_legs(&request, None).unwrap());
    local.extend(bm25_scores(shard_b.search_legs(&request, None).unwrap()));
    assert_eq!(local.len(), expected.len());
    assert_ne!(local, expected, "each shard's own counts score differently");
}
