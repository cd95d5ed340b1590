//! Behaviour of persistent collections through the public API: persistence across reopen,
//! upsert semantics, deletes in both legs, filters inside each leg, fused scores (RRF and
//! score fusion), and searches running while writes happen.
#![allow(clippy::unwrap_used)]

mod common;

use common::{corpus, doc, doc_with, embed, embed_all, search, sources};
use ragmesh_core::{Classify, ErrorCode};
use ragmesh_index::{
    ChunkId, Collections, Filters, FusionMethod, IndexError, Method, SearchRequest,
};
use std::sync::Arc;

fn filters(pairs: &[(&str, &str)]) -> Filters {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn each_method_finds_the_right_document_and_results_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let queries = [
        ("volcanoes erupting lava and magma", "volcano.md"),
        ("sourdough dough with wild yeast", "bread.md"),
        ("satellites orbit around the planet", "orbits.md"),
    ];
    let none = Filters::new();
    let mut before = Vec::new();
    {
        let collections = Collections::new(dir.path()).unwrap();
        let collection = collections.get_or_create("docs").unwrap();
        let report = collection.upsert(corpus(), embed_all).unwrap();
        assert_eq!(
            (
                report.documents,
                report.chunks,
                report.chunks_added,
                report.chunks_removed
            ),
            (3, 6, 6, 0)
        );
        for (query, expected) in queries {
            for method in [Method::Hybrid, Method::Bm25, Method::Vector] {
                let hits = search(&collection, method, query, 4, &none);
                assert_eq!(
                    hits[0].source,
                    expected,
                    "{method:?} {query}: {:?}",
                    sources(&hits)
                );
                before.push(hits);
            }
        }
    }
    let collections = Collections::new(dir.path()).unwrap();
    let collection = collections.get("docs").unwrap();
    assert_eq!(
        collection.open_report().orphan_documents + collection.open_report().orphan_vectors,
        0
    );
    let mut after = Vec::new();
    for (query, _) in queries {
        for method in [Method::Hybrid, Method::Bm25, Method::Vector] {
            after.push(search(&collection, method, query, 4, &none));
        }
    }
    assert_eq!(before, after);
    let info = collections.list().unwrap();
    assert_eq!(info.len(), 1);
    assert_eq!(
        (info[0].name.as_str(), info[0].documents, info[0].chunks),
        ("docs", 3, 6)
    );
}

#[test]
fn re_ingesting_adds_nothing_and_a_changed_document_replaces_only_what_changed() {
    let dir = tempfile::tempdir().unwrap();
    let collections = Collections::new(dir.path()).unwrap();
    let collection = collections.get_or_create("c").unwrap();
    collection.upsert(corpus(), embed_all).unwrap();

    let mut embedded = Vec::new();
    let report = collection
        .upsert(corpus(), |texts: &[&str]| {
            embedded.extend(texts.iter().map(|t| t.to_string()));
            embed_all(texts)
        })
        .unwrap();
    assert_eq!(
        (report.chunks, report.chunks_added, report.chunks_removed),
        (6, 0, 0)
    );
    assert!(
        embedded.is_empty(),
        "unchanged chunks were embedded again: {embedded:?}"
    );

    let old_ids = collection.chunk_ids("bread.md").unwrap();
    let changed = doc_with(
        "bread.md",
        &[("lang", "en"), ("topic.area", "cooking")],
        &[
            "Sourdough bread rises slowly because wild yeast ferments the dough overnight.",
            "Rye bread needs a sour starter and a long proof.",
        ],
    );
    let report = collection
        .upsert(vec![changed], |texts: &[&str]| {
            embedded.extend(texts.iter().map(|t| t.to_string()));
            embed_all(texts)
        })
        .unwrap();
    assert_eq!(
        (
            report.documents,
            report.chunks,
            report.chunks_added,
            report.chunks_removed
        ),
        (1, 2, 1, 1)
    );
    assert_eq!(
        embedded,
        ["Rye bread needs a sour starter and a long proof."]
    );
    let new_ids = collection.chunk_ids("bread.md").unwrap();
    assert_eq!(new_ids[0], old_ids[0], "the unchanged chunk keeps its id");
    assert_ne!(new_ids[1], old_ids[1]);
    assert_eq!(collection.info().chunks, 6);

    // The removed chunk is gone from both legs; the new one is found by both.
    let none = Filters::new();
    for method in [Method::Bm25, Method::Vector, Method::Hybrid] {
        let hits = search(&collection, method, "hot oven dark crisp crust", 10, &none);
        assert!(
            hits.iter().all(|h| !h.text.contains("hot oven")),
            "{method:?}"
        );
        let hits = search(&collection, method, "rye sour starter proof", 1, &none);
        assert!(hits[0].text.starts_with("Rye"), "{method:?}");
    }

    // A chunk that moves keeps its vector but gets its new position; new metadata reaches
    // every chunk without embedding anything.
    embedded.clear();
    let moved = doc_with(
        "bread.md",
        &[("lang", "fr")],
        &[
            "Rye bread needs a sour starter and a long proof.",
            "Sourdough bread rises slowly because wild yeast ferments the dough overnight.",
        ],
    );
    let report = collection
        .upsert(vec![moved], |texts: &[&str]| {
            embedded.extend(texts.iter().map(|t| t.to_string()));
            embed_all(texts)
        })
        .unwrap();
    assert_eq!((report.chunks_added, report.chunks_removed), (0, 0));
    assert!(embedded.is_empty());
    let hits = search(
        &collection,
        Method::Bm25,
        "rye sour starter",
        1,
        &filters(&[("lang", "fr")]),
    );
    assert_eq!(
        (
            hits[0].chunk_index,
            hits[0].metadata.get("lang").map(String::as_str)
        ),
        (0, Some("fr"))
    );
    assert!(
        search(
            &collection,
            Method::Hybrid,
            "bread",
            10,
            &filters(&[("lang", "en"), ("source", "bread.md")])
        )
        .is_empty()
    );
}

#[test]
fn repeated_identical_chunks_are_kept_apart() {
    let dir = tempfile::tempdir().unwrap();
    let collections = Collections::new(dir.path()).unwrap();
    let collection = collections.get_or_create("c").unwrap();
    let report = collection
        .upsert(
            vec![doc("faq.md", &["See above.", "Answer one.", "See above."])],
            embed_all,
        )
        .unwrap();
    assert_eq!(report.chunks_added, 3);
    let ids = collection.chunk_ids("faq.md").unwrap();
    assert_eq!(ids.len(), 3);
    assert_eq!(ids[0], ChunkId::derive("c", "faq.md", "See above.", 0));
    assert_eq!(ids[2], ChunkId::derive("c", "faq.md", "See above.", 1));
}

#[test]
fn delete_removes_a_source_from_both_legs_and_unknown_names_are_not_found() {
    let dir = tempfile::tempdir().unwrap();
    let collections = Collections::new(dir.path()).unwrap();
    let collection = collections.get_or_create("c").unwrap();
    collection.upsert(corpus(), embed_all).unwrap();
    assert_eq!(collection.delete_source("volcano.md").unwrap(), 2);
    let none = Filters::new();
    for method in [Method::Bm25, Method::Vector, Method::Hybrid] {
        let hits = search(&collection, method, "volcano lava magma basalt", 10, &none);
        assert!(
            hits.iter().all(|h| h.source != "volcano.md"),
            "{method:?}: {:?}",
            sources(&hits)
        );
    }
    assert_eq!(collection.info().documents, 2);
    assert!(
        collection
            .documents()
            .iter()
            .all(|d| d.source != "volcano.md")
    );

    let err = collection.delete_source("volcano.md").unwrap_err();
    assert_eq!(err.code(), ErrorCode::NotFound);
    let err = collections.get("missing").unwrap_err();
    assert_eq!(err.code(), ErrorCode::NotFound);
    assert_eq!(err.to_string(), "collection 'missing' does not exist");
    let err = collections.get_or_create("../escape").unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidArgument);
    assert!(!dir.path().join("escape").exists());

    // Still gone after a restart.
    drop(collection);
    drop(collections);
    let collections = Collections::new(dir.path()).unwrap();
    let collection = collections.get("c").unwrap();
    let hits = search(
        &collection,
        Method::Hybrid,
        "volcano lava magma basalt",
        10,
        &none,
    );
    assert!(hits.iter().all(|h| h.source != "volcano.md"));
    assert_eq!(collection.vector_slots().0, 4);
}

#[test]
fn filters_apply_inside_each_leg_before_the_top_k() {
    let dir = tempfile::tempdir().unwrap();
    let collections = Collections::new(dir.path()).unwrap();
    let collection = collections.get_or_create("c").unwrap();
    collection.upsert(corpus(), embed_all).unwrap();
    // The query is about volcanoes, k = 1: only a filter applied before the cut can return
    // a bread chunk.
    let query = "volcano lava crust orbit";
    for method in [Method::Bm25, Method::Vector, Method::Hybrid] {
        assert_eq!(
            search(&collection, method, query, 1, &Filters::new())[0].source,
            "volcano.md"
        );
        let hits = search(
            &collection,
            method,
            query,
            1,
            &filters(&[("source", "bread.md")]),
        );
        assert_eq!(sources(&hits), ["bread.md"], "{method:?}");
        let hits = search(
            &collection,
            method,
            query,
            10,
            &filters(&[("topic.area", "physics")]),
        );
        assert!(
            !hits.is_empty() && hits.iter().all(|h| h.source == "orbits.md"),
            "{method:?}"
        );
        let hits = search(&collection, method, query, 10, &filters(&[("lang", "en")]));
        assert!(hits.len() >= 3, "{method:?}");
        assert!(
            hits.iter()
                .all(|h| h.metadata.get("lang").map(String::as_str) == Some("en"))
        );
        if method == Method::Vector {
            assert_eq!(hits.len(), 4);
        }
        assert!(search(&collection, method, query, 10, &filters(&[("lang", "xx")])).is_empty());
        assert!(
            search(
                &collection,
                method,
                query,
                10,
                &filters(&[("topic", "physics")])
            )
            .is_empty()
        );
    }
    let hits = search(
        &collection,
        Method::Hybrid,
        query,
        10,
        &filters(&[("lang", "en"), ("topic.area", "geology")]),
    );
    assert_eq!(hits.len(), 2);
    assert_eq!(
        hits[0].metadata.get("topic.area").map(String::as_str),
        Some("geology")
    );
}

#[test]
fn hybrid_scores_are_reciprocal_rank_sums_and_ties_are_stable() {
    let dir = tempfile::tempdir().unwrap();
    let collections = Collections::new(dir.path()).unwrap();
    let collection = collections.get_or_create("c").unwrap();
    collection.upsert(corpus(), embed_all).unwrap();
    let none = Filters::new();
    for rrf_k in [1u32, 60] {
        let vector = embed("bread crust oven lava");
        let request = SearchRequest {
            text: "bread crust oven lava",
            vector: Some(&vector),
            k: 6,
            method: Method::Hybrid,
            fusion: FusionMethod::Rrf,
            rrf_k,
            leg_depth_factor: 4,
            filters: &none,
        };
        let results = collection.search(&request).unwrap();
        assert!(results.timings.bm25_ms.is_some() && results.timings.vector_ms.is_some());
        let bm25 = collection.bm25("bread crust oven lava", 50, &none).unwrap();
        let vector_leg = collection.vector(&vector, 50, &none).unwrap();
        for hit in &results.hits {
            let mut expected = 0.0f64;
            if let Some(rank) = hit.bm25_rank {
                assert_eq!(bm25[rank as usize - 1].id, hit.id);
                assert_eq!(Some(bm25[rank as usize - 1].score), hit.bm25_score);
                expected += 1.0 / (f64::from(rrf_k) + f64::from(rank));
            }
            if let Some(rank) = hit.vector_rank {
                assert_eq!(vector_leg[rank as usize - 1].id, hit.id);
                expected += 1.0 / (f64::from(rrf_k) + f64::from(rank));
            }
            assert!((f64::from(hit.score) - expected).abs() < 1e-6, "{hit:?}");
        }
        assert!(results.hits.windows(2).all(|w| w[0].score >= w[1].score));
        assert_eq!(results, {
            let mut again = collection.search(&request).unwrap();
            again.timings = results.timings;
            again
        });
    }
}

#[test]
fn hybrid_score_fusion_sums_each_legs_min_max_normalised_scores() {
    let dir = tempfile::tempdir().unwrap();
    let collections = Collections::new(dir.path()).unwrap();
    let collection = collections.get_or_create("c").unwrap();
    collection.upsert(corpus(), embed_all).unwrap();
    let none = Filters::new();
    let query = "bread crust oven lava";
    let vector = embed(query);
    let request = SearchRequest {
        text: query,
        vector: Some(&vector),
        k: 6,
        method: Method::Hybrid,
        fusion: FusionMethod::Score,
        rrf_k: 60,
        leg_depth_factor: 4,
        filters: &none,
    };
    let results = collection.search(&request).unwrap();
    // The legs the search fused: 50 deep (max(6 · 4, 50)).
    let bm25 = collection.bm25(query, 50, &none).unwrap();
    let vector_leg = collection.vector(&vector, 50, &none).unwrap();
    let normalised = |leg: &[ragmesh_index::LegHit], rank: u32| -> f64 {
        let lo = leg
            .iter()
            .map(|h| f64::from(h.score))
            .fold(f64::INFINITY, f64::min);
        let hi = leg
            .iter()
            .map(|h| f64::from(h.score))
            .fold(f64::NEG_INFINITY, f64::max);
        let score = f64::from(leg[rank as usize - 1].score);
        if hi > lo {
            (score - lo) / (hi - lo)
        } else {
            1.0
        }
    };
    assert!(!results.hits.is_empty());
    for hit in &results.hits {
        let expected = hit.bm25_rank.map_or(0.0, |r| normalised(&bm25, r))
            + hit.vector_rank.map_or(0.0, |r| normalised(&vector_leg, r));
        assert!((f64::from(hit.score) - expected).abs() < 1e-5, "{hit:?}");
    }
    assert!(results.hits.windows(2).all(|w| w[0].score >= w[1].score));
    assert!(
        results.hits[0].score >= 1.0,
        "a leg's best scores 1: {:?}",
        results.hits[0]
    );
}

#[test]
fn queries_without_terms_or_with_query_syntax_are_plain_text() {
    let dir = tempfile::tempdir().unwrap();
    let collections = Collections::new(dir.path()).unwrap();
    let collection = collections.get_or_create("c").unwrap();
    collection.upsert(corpus(), embed_all).unwrap();
    let none = Filters::new();
    assert!(collection.bm25("the and of", 10, &none).unwrap().is_empty());
    assert!(collection.bm25("", 10, &none).unwrap().is_empty());
    let hits = collection
        .bm25("text:lava AND (\"unclosed OR source:*", 10, &none)
        .unwrap();
    assert!(!hits.is_empty());
    // Stemming: "erupting" finds "erupt".
    let hits = search(&collection, Method::Bm25, "erupting volcanoes", 1, &none);
    assert_eq!(hits[0].source, "volcano.md");
    // A vector of the wrong size is refused, not searched.
    let err = collection.vector(&[1.0, 0.0], 5, &none).unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidArgument);
    let err = collection
        .vector(&vec![0.0; common::DIM], 5, &none)
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidArgument);
}

#[test]
fn bad_documents_are_refused_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let collections = Collections::new(dir.path()).unwrap();
    let collection = collections.get_or_create("c").unwrap();
    let bad = [
        vec![doc("", &["text"])],
        vec![doc("a", &["x"]), doc("a", &["y"])],
        vec![doc("a", &[])],
        vec![doc_with("a", &[("", "v")], &["x"])],
    ];
    for documents in bad {
        let err = collection.upsert(documents, embed_all).unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidArgument, "{err}");
    }
    // An embedder that fails, or returns the wrong count, leaves nothing behind.
    let failing = collection.upsert(vec![doc("a", &["x"])], |_: &[&str]| {
        Err(IndexError::TaskFailed("model down".into()))
    });
    assert!(failing.is_err());
    let short = collection.upsert(vec![doc("a", &["x", "y"])], |_: &[&str]| {
        Ok::<_, IndexError>(vec![embed("x")])
    });
    assert!(short.is_err());
    assert_eq!(collection.info().chunks, 0);
    assert_eq!(collection.vector_slots(), (0, 0));
}

#[test]
fn searches_run_while_writes_happen() {
    let dir = tempfile::tempdir().unwrap();
    let collections = Collections::new(dir.path()).unwrap();
    let collection = collections.get_or_create("c").unwrap();
    collection.upsert(corpus(), embed_all).unwrap();
    let writer = {
        let collection = Arc::clone(&collection);
        std::thread::spawn(move || {
            for i in 0..40 {
                let text = format!("Filler note number {i} about gardening and tomatoes.");
                collection
                    .upsert(vec![doc(&format!("note-{i}.md"), &[&text])], embed_all)
                    .unwrap();
            }
        })
    };
    let none = Filters::new();
    let mut searches = 0;
    while !writer.is_finished() {
        for method in [Method::Hybrid, Method::Vector, Method::Bm25] {
            let hits = search(
                &collection,
                method,
                "satellites orbit around the planet",
                3,
                &none,
            );
            assert_eq!(hits[0].source, "orbits.md", "{method:?}");
            searches += 1;
        }
    }
    writer.join().unwrap();
    assert!(searches > 0);
    assert_eq!(collection.info().documents, 43);
    let hits = search(
        &collection,
        Method::Hybrid,
        "note number 39 tomatoes",
        1,
        &none,
    );
    assert_eq!(hits[0].source, "note-39.md");
}

#[test]
fn many_replacements_compact_the_vectors_and_keep_results() {
    let dir = tempfile::tempdir().unwrap();
    {
        let collections = Collections::new(dir.path()).unwrap();
        let collection = collections.get_or_create("c").unwrap();
        collection.upsert(corpus(), embed_all).unwrap();
        for version in 0..10 {
            let text = format!("Changelog version {version} of the release notes.");
            collection
                .upsert(vec![doc("changelog.md", &[&text])], embed_all)
                .unwrap();
        }
        let (live, dead) = collection.vector_slots();
        assert_eq!(live, 7);
        assert!(
            dead * 10 <= (live + dead) * 3,
            "{live} live, {dead} dead: not compacted"
        );
    }
    let collections = Collections::new(dir.path()).unwrap();
    let collection = collections.get("c").unwrap();
    assert_eq!(collection.vector_slots().0, 7);
    let hits = search(
        &collection,
        Method::Hybrid,
        "changelog version 9",
        1,
        &Filters::new(),
    );
    assert_eq!(hits[0].text, "Changelog version 9 of the release notes.");
}
