//! Content-derived chunk ids. The id of a chunk is a function of (collection, source, chunk
//! text, occurrence of that text in the document), so ingesting the same text twice yields
//! the same ids (nothing is added) and a changed document keeps the ids of its unchanged
//! chunks. The same 64 bits serve as the key in both indexes and, as 16 hex digits, in the API.

use sha2::{Digest, Sha256};
use std::collections::HashMap;

/// Identifier of one chunk, unique within a data directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChunkId(pub u64);

impl ChunkId {
    /// Derives the id of the `occurrence`-th (from 0) chunk with this exact `text` in `source`.
    pub fn derive(collection: &str, source: &str, text: &str, occurrence: u32) -> ChunkId {
        let mut hasher = Sha256::new();
        hasher.update(b"ragmesh-chunk-v1");
        for part in [collection.as_bytes(), source.as_bytes()] {
            hasher.update((part.len() as u64).to_le_bytes());
            hasher.update(part);
        }
        hasher.update(occurrence.to_le_bytes());
        hasher.update(text.as_bytes());
        let digest = hasher.finalize();
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        ChunkId(u64::from_be_bytes(first))
    }

    /// Ids of a document's chunks in order; repeated identical texts get successive
    /// occurrence numbers so their ids differ.
    pub fn for_document(collection: &str, source: &str, texts: &[&str]) -> Vec<ChunkId> {
        let mut seen: HashMap<&str, u32> = HashMap::new();
        texts
            .iter()
            .map(|text| {
                let occurrence = seen.entry(text).or_insert(0);
                let id = ChunkId::derive(collection, source, text, *occurrence);
                *occurrence += 1;
                id
            })
            .collect()
    }

    /// The API form: 16 lowercase hex digits.
    pub fn to_hex(self) -> String {
        hex::encode(self.0.to_be_bytes())
    }

    /// Parses the API form.
    pub fn from_hex(text: &str) -> Option<ChunkId> {
        let bytes = hex::decode(text).ok()?;
        let array: [u8; 8] = bytes.try_into().ok()?;
        Some(ChunkId(u64::from_be_bytes(array)))
    }
}

impl std::fmt::Display for ChunkId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn ids_depend_on_every_part_and_nothing_else() {
        let base = ChunkId::derive("c", "s", "text", 0);
        assert_eq!(base, ChunkId::derive("c", "s", "text", 0));
        assert_ne!(base, ChunkId::derive("c2", "s", "text", 0));
        assert_ne!(base, ChunkId::derive("c", "s2", "text", 0));
        assert_ne!(base, ChunkId::derive("c", "s", "text2", 0));
        assert_ne!(base, ChunkId::derive("c", "s", "text", 1));
        // Length prefixes keep ("ab","c") and ("a","bc") apart.
        assert_ne!(
            ChunkId::derive("ab", "c", "t", 0),
            ChunkId::derive("a", "bc", "t", 0)
        );
    }

    #[test]
    fn repeated_texts_get_distinct_ids_and_hex_round_trips() {
        let ids = ChunkId::for_document("c", "s", &["same", "other", "same"]);
        assert_eq!(ids[0], ChunkId::derive("c", "s", "same", 0));
        assert_eq!(ids[2], ChunkId::derive("c", "s", "same", 1));
        assert_ne!(ids[0], ids[2]);
        for id in ids {
            assert_eq!(id.to_hex().len(), 16);
            assert_eq!(id.to_hex(), id.to_string());
            assert_eq!(ChunkId::from_hex(&id.to_hex()), Some(id));
        }
        assert_eq!(ChunkId::from_hex("zz"), None);
    }
}
