//! Crash-recovery tests of a collection: they forge the on-disk traces an interrupted write
//! leaves (a vector logged without its chunk document, a document whose vector was deleted,
//! a torn log record, a chunk document stored twice) and check that reopening removes exactly
//! those, so nothing half-indexed is visible to either leg.

use super::{DIM, document, embed, ids, vector_for};
use crate::collection::{log_path, text_dir};
use crate::text_index::TextIndex;
use crate::vector_log::{VectorLog, VectorRecord};
use crate::{ChunkId, Collection, IndexError, Method};
use std::io::Write;
use std::path::Path;

fn seeded(dir: &Path) -> Collection {
    let collection = Collection::open(dir, "c").unwrap();
    collection
        .upsert(
            vec![
                document("a.md", "alpha notes"),
                document("b.md", "beta notes"),
            ],
            embed,
        )
        .unwrap();
    collection
}

fn append(dir: &Path, records: &[VectorRecord]) {
    let (mut log, _) = VectorLog::open(&log_path(dir), |_| Ok(())).unwrap();
    log.append(records).unwrap();
}

#[test]
fn a_vector_logged_without_its_document_is_removed_on_open() {
    let dir = tempfile::tempdir().unwrap();
    drop(seeded(dir.path()));
    // Crash after step 1 of an upsert: the vector is durable, the text commit never happened.
    let ghost = ChunkId::derive("c", "ghost.md", "gamma notes", 0);
    append(
        dir.path(),
        &[VectorRecord::Put {
            id: ghost,
            vector: vector_for("gamma"),
        }],
    );

    let collection = Collection::open(dir.path(), "c").unwrap();
    let report = collection.open_report();
    assert_eq!(
        (
            report.orphan_vectors,
            report.orphan_documents,
            report.chunks
        ),
        (1, 0, 2)
    );
    assert!(!ids(&collection, Method::Vector, "gamma").contains(&ghost));
    assert_eq!(collection.vector_slots().0, 2);
    drop(collection);
    // The repair itself is durable: the next open finds nothing to fix.
    let collection = Collection::open(dir.path(), "c").unwrap();
    assert_eq!(collection.open_report().orphan_vectors, 0);
}

#[test]
fn a_document_whose_vector_is_gone_is_removed_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let collection = seeded(dir.path());
    let beta = collection.chunk_ids("b.md").unwrap()[0];
    assert!(ids(&collection, Method::Bm25, "beta").contains(&beta));
    drop(collection);
    append(dir.path(), &[VectorRecord::Delete { id: beta }]);

    let collection = Collection::open(dir.path(), "c").unwrap();
    assert_eq!(collection.open_report().orphan_documents, 1);
    for method in [Method::Bm25, Method::Vector, Method::Hybrid] {
        assert!(
            !ids(&collection, method, "beta notes").contains(&beta),
            "{method:?}"
        );
    }
    assert_eq!(
        (collection.info().documents, collection.info().chunks),
        (1, 1)
    );
    drop(collection);
    let collection = Collection::open(dir.path(), "c").unwrap();
    assert_eq!(collection.open_report().orphan_documents, 0);
}

#[test]
fn a_chunk_document_stored_twice_keeps_exactly_one_copy() {
    let dir = tempfile::tempdir().unwrap();
    let collection = seeded(dir.path());
    let alpha = collection.chunk_ids("a.md").unwrap()[0];
    drop(collection);
    {
        let (text, mut writer) = TextIndex::open_or_create(&text_dir(dir.path())).unwrap();
        let copy = text.fetch(&text.searcher(), &[alpha]).unwrap()[&alpha].clone();
        writer.add_document(text.document(&copy)).unwrap();
        writer.commit().unwrap();
    }

    let collection = Collection::open(dir.path(), "c").unwrap();
    assert_eq!(collection.open_report().duplicate_documents, 1);
    let hits = ids(&collection, Method::Bm25, "alpha");
    assert_eq!(
        hits.iter().filter(|&&id| id == alpha).count(),
        1,
        "{hits:?}"
    );
    assert_eq!(collection.info().chunks, 2);
    drop(collection);
    let collection = Collection::open(dir.path(), "c").unwrap();
    assert_eq!(collection.open_report().duplicate_documents, 0);
    assert!(ids(&collection, Method::Bm25, "alpha").contains(&alpha));
}

#[test]
fn a_torn_log_record_is_cut_and_the_rest_reconciled() {
    let dir = tempfile::tempdir().unwrap();
    drop(seeded(dir.path()));
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(log_path(dir.path()))
        .unwrap();
    file.write_all(&[200, 1, 0, 0, 7, 7]).unwrap();
    drop(file);
    let collection = Collection::open(dir.path(), "c").unwrap();
    let report = collection.open_report();
    assert_eq!(report.log_truncated_bytes, 6);
    assert_eq!(report.chunks, 2);
    assert_eq!(
        ids(&collection, Method::Hybrid, "alpha")[0],
        collection.chunk_ids("a.md").unwrap()[0]
    );
}

#[test]
fn results_are_identical_after_reopen_and_the_vector_dimension_is_enforced() {
    let dir = tempfile::tempdir().unwrap();
    let collection = seeded(dir.path());
    let before: Vec<_> = [Method::Bm25, Method::Vector, Method::Hybrid]
        .iter()
        .map(|m| ids(&collection, *m, "alpha beta notes"))
        .collect();
    let err = collection
        .upsert(vec![document("c.md", "gamma")], |_: &[&str]| {
            Ok::<_, IndexError>(vec![vec![1.0; DIM + 1]])
        })
        .unwrap_err();
    assert!(matches!(
        err,
        IndexError::DimensionMismatch {
            expected: DIM,
            got: 5,
            ..
        }
    ));
    drop(collection);
    let collection = Collection::open(dir.path(), "c").unwrap();
    let after: Vec<_> = [Method::Bm25, Method::Vector, Method::Hybrid]
        .iter()
        .map(|m| ids(&collection, *m, "alpha beta notes"))
        .collect();
    assert_eq!(before, after);
    assert_eq!(before[2].len(), 2);
}
