//! Backup and restore of a collection: a restored copy in another data directory answers
//! every method exactly like the original, and a damaged archive or an occupied name is
//! refused before anything on disk changes.

use super::{document, embed, ids};
use crate::{Collections, IndexError, Method};

fn seeded(collections: &Collections) {
    let c = collections.get_or_create("src").unwrap();
    c.upsert(
        vec![
            document("a.md", "alpha notes"),
            document("b.md", "beta notes"),
            document("g.md", "gamma and delta notes"),
        ],
        embed,
    )
    .unwrap();
    // A replaced document leaves dead vector slots and deleted text documents behind.
    c.upsert(vec![document("b.md", "beta notes, revised")], embed)
        .unwrap();
}

fn results(collections: &Collections, name: &str) -> Vec<Vec<crate::ChunkId>> {
    let c = collections.get(name).unwrap();
    let mut all = Vec::new();
    for method in [Method::Bm25, Method::Vector, Method::Hybrid] {
        for query in ["alpha", "beta notes", "gamma delta", "notes"] {
            all.push(ids(&c, method, query));
        }
    }
    all
}

#[test]
fn a_restored_collection_answers_like_the_original() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let source = Collections::new(a.path()).unwrap();
    seeded(&source);
    let (manifest, archive) = source.get("src").unwrap().backup().unwrap();
    assert_eq!((manifest.documents, manifest.chunks), (3, 3));

    let target = Collections::new(b.path()).unwrap();
    let report = target.restore(&archive, None, false).unwrap();
    assert_eq!(
        (
            report.collection.as_str(),
            report.documents,
            report.chunks,
            report.replaced
        ),
        ("src", 3, 3, false)
    );
    assert_eq!(results(&source, "src"), results(&target, "src"));
    drop(target);
    // Durable: a fresh process finds the same collection.
    let reopened = Collections::new(b.path()).unwrap();
    assert_eq!(reopened.names().unwrap(), vec!["src".to_string()]);
    assert_eq!(results(&source, "src"), results(&reopened, "src"));
}

#[test]
fn a_copy_under_another_name_gets_that_names_chunk_ids() {
    let dir = tempfile::tempdir().unwrap();
    let collections = Collections::new(dir.path()).unwrap();
    seeded(&collections);
    let (_, archive) = collections.get("src").unwrap().backup().unwrap();
    collections.restore(&archive, Some("copy"), false).unwrap();
    let copy = collections.get("copy").unwrap();
    assert_eq!(copy.info().chunks, 3);
    // Ingesting the same text into the copy adds nothing, as in a collection ingested there.
    let again = copy
        .upsert(vec![document("a.md", "alpha notes")], embed)
        .unwrap();
    assert_eq!((again.chunks, again.chunks_added), (1, 0));
    assert_eq!(
        ids(&copy, Method::Vector, "alpha")[0],
        copy.chunk_ids("a.md").unwrap()[0]
    );
}

#[test]
fn a_damaged_archive_is_refused_and_the_existing_collection_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let collections = Collections::new(dir.path()).unwrap();
    seeded(&collections);
    let (_, archive) = collections.get("src").unwrap().backup().unwrap();
    let before = results(&collections, "src");

    let mut flipped = archive.clone();
    let last = flipped.len() - 3;
    flipped[last] ^= 0x55;
    let truncated = &archive[..archive.len() - 10];
    for (bad, expected) in [
        (&flipped[..], "vectors.log does not match its SHA-256"),
        (truncated, "truncated: vectors.log"),
        (&b"not an archive"[..], "bad magic"),
    ] {
        let e = collections.restore(bad, None, true).unwrap_err();
        assert!(matches!(e, IndexError::BadArchive(_)), "{e}");
        assert!(e.to_string().contains(expected), "{e}");
    }
    assert_eq!(results(&collections, "src"), before);
    assert!(
        std::fs::read_dir(dir.path().join("restoring"))
            .map(|d| d.count() == 0)
            .unwrap_or(true),
        "staging folders left behind"
    );
}

#[test]
fn an_occupied_name_needs_replace() {
    let dir = tempfile::tempdir().unwrap();
    let collections = Collections::new(dir.path()).unwrap();
    seeded(&collections);
    let (_, archive) = collections.get("src").unwrap().backup().unwrap();
    let e = collections.restore(&archive, None, false).unwrap_err();
    assert!(matches!(e, IndexError::CollectionExists(_)), "{e}");

    let other = collections.get_or_create("other").unwrap();
    other
        .upsert(vec![document("x.md", "delta only")], embed)
        .unwrap();
    drop(other);
    let report = collections.restore(&archive, Some("other"), true).unwrap();
    assert!(report.replaced);
    assert_eq!(
        collections.get("other").unwrap().info().chunks,
        collections.get("src").unwrap().info().chunks
    );
    assert!(
        collections
            .get("other")
            .unwrap()
            .chunk_ids("x.md")
            .is_none()
    );
}
