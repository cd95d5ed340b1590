//! Upserts as a user re-ingesting documents sees them: a changed document's old chunks are
//! gone from both legs and the catalog, and an unchanged document costs nothing (no chunk is
//! embedded again and nothing is added or removed).

use super::{document, embed, ids};
use crate::{Collection, Method};
use std::cell::Cell;

#[test]
fn a_changed_document_replaces_its_chunks_and_an_unchanged_one_adds_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let collection = Collection::open(dir.path(), "c").unwrap();
    collection
        .upsert(
            vec![
                document("a.md", "alpha notes"),
                document("b.md", "beta notes"),
            ],
            embed,
        )
        .unwrap();
    let old_a = collection.chunk_ids("a.md").unwrap();
    let b = collection.chunk_ids("b.md").unwrap();

    let report = collection
        .upsert(vec![document("a.md", "gamma report")], embed)
        .unwrap();
    assert_eq!((report.chunks_added, report.chunks_removed), (1, 1));
    let new_a = collection.chunk_ids("a.md").unwrap();
    assert_ne!(new_a, old_a);
    for method in [Method::Bm25, Method::Vector, Method::Hybrid] {
        let alpha = ids(&collection, method, "alpha");
        assert!(
            !alpha.contains(&old_a[0]),
            "{method:?} still finds the old text: {alpha:?}"
        );
        assert_eq!(ids(&collection, method, "gamma")[0], new_a[0], "{method:?}");
    }
    assert_eq!(collection.chunk_ids("b.md").unwrap(), b, "b.md was touched");
    assert_eq!(collection.documents().len(), 2);

    let embedded = Cell::new(0);
    let report = collection
        .upsert(
            vec![
                document("a.md", "gamma report"),
                document("b.md", "beta notes"),
            ],
            |texts: &[&str]| {
                embedded.set(embedded.get() + texts.len());
                embed(texts)
            },
        )
        .unwrap();
    assert_eq!(embedded.get(), 0, "unchanged chunks were embedded again");
    assert_eq!((report.chunks_added, report.chunks_removed), (0, 0));
    assert_eq!(report.chunks, 2);
    assert_eq!(collection.chunk_ids("a.md").unwrap(), new_a);
}
