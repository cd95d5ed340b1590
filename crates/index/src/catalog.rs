//! The in-memory list of a collection's documents: for each source its metadata and the ids
//! and positions of its chunks. Upserts plan against it (which chunks are new, moved or
//! stale) and listings read it, without touching the indexes.

use crate::{ChunkId, Metadata};
use std::collections::BTreeMap;

/// One stored document.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct DocumentEntry {
    pub metadata: Metadata,
    /// Chunk id -> chunk index.
    pub chunks: BTreeMap<ChunkId, u32>,
}

#[derive(Debug, Default)]
pub(crate) struct Catalog {
    documents: BTreeMap<String, DocumentEntry>,
    chunks: usize,
}

impl Catalog {
    pub fn get(&self, source: &str) -> Option<&DocumentEntry> {
        self.documents.get(source)
    }

    /// Records one chunk (start-up scan); the first chunk seen sets the metadata.
    pub fn add_chunk(&mut self, source: &str, id: ChunkId, index: u32, metadata: &Metadata) {
        let entry = self
            .documents
            .entry(source.to_string())
            .or_insert_with(|| DocumentEntry {
                metadata: metadata.clone(),
                chunks: BTreeMap::new(),
            });
        if entry.chunks.insert(id, index).is_none() {
            self.chunks += 1;
        }
    }

    /// Replaces a document's entry (an empty entry removes it).
    pub fn set(&mut self, source: &str, entry: DocumentEntry) {
        let old = if entry.chunks.is_empty() {
            self.documents.remove(source)
        } else {
            self.documents.insert(source.to_string(), entry.clone())
        };
        self.chunks -= old.map_or(0, |e| e.chunks.len());
        self.chunks += entry.chunks.len();
    }

    pub fn documents(&self) -> impl Iterator<Item = (&String, &DocumentEntry)> {
        self.documents.iter()
    }

    pub fn document_count(&self) -> usize {
        self.documents.len()
    }

    pub fn chunk_count(&self) -> usize {
        self.chunks
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn counts_follow_additions_replacements_and_removals() {
        let mut catalog = Catalog::default();
        let meta = Metadata::new();
        catalog.add_chunk("a", ChunkId(1), 0, &meta);
        catalog.add_chunk("a", ChunkId(2), 1, &meta);
        catalog.add_chunk("b", ChunkId(3), 0, &meta);
        assert_eq!((catalog.document_count(), catalog.chunk_count()), (2, 3));
        let replacement = DocumentEntry {
            metadata: meta.clone(),
            chunks: [(ChunkId(9), 0)].into(),
        };
        catalog.set("a", replacement.clone());
        assert_eq!((catalog.document_count(), catalog.chunk_count()), (2, 2));
        assert_eq!(catalog.get("a"), Some(&replacement));
        catalog.set("b", DocumentEntry::default());
        assert_eq!((catalog.document_count(), catalog.chunk_count()), (1, 1));
        assert!(catalog.get("b").is_none());
    }
}
