//! Which retrieval shard owns a document, and how the shards and their replicas are written
//! in `gateway.retrieval_url`: `;` separates shards, `,` separates the replicas of one shard
//! (`http://a:7001,http://b:7001;http://c:7001,http://d:7001` is two shards of two replicas).
//! One group is today's single retrieval backend.
//!
//! A document (keyed by its `source`) lives on shard `owner_shard(source, n)`: the first 8
//! bytes of SHA-256 of the source, big-endian, modulo the number of shards. This function must
//! never change between versions — a changed one would look for documents on the wrong
//! shard — so its values are pinned by a test.

use sha2::{Digest, Sha256};

/// Shards (outer) of replica URLs (inner) as written in `gateway.retrieval_url`; empty groups
/// are dropped.
pub fn parse_shards(value: &str) -> Vec<Vec<String>> {
    value
        .split(';')
        .map(ragmesh_config::split_urls)
        .filter(|replicas| !replicas.is_empty())
        .collect()
}

/// The 0-based shard (of `shards`) that owns `source`. Messages and docs number shards from 1.
pub fn owner_shard(source: &str, shards: usize) -> usize {
    if shards <= 1 {
        return 0;
    }
    let digest = Sha256::digest(source.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    (u64::from_be_bytes(first) % shards as u64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_are_pinned_forever() {
        // Changing these values moves documents to other shards: never do it.
        let owners: Vec<usize> = [
            "kilauea.md",
            "sourdough.txt",
            "sicilian.md",
            "ownership.txt",
        ]
        .iter()
        .map(|s| owner_shard(s, 2))
        .collect();
        assert_eq!(owners, PINNED_TWO);
        assert_eq!(owner_shard("kilauea.md", 7), PINNED_KILAUEA_OF_7);
        assert_eq!(owner_shard("anything", 1), 0);
    }

    const PINNED_TWO: [usize; 4] = [0, 1, 0, 0];
    const PINNED_KILAUEA_OF_7: usize = 2;

    #[test]
    fn shards_and_replicas_are_read_from_one_setting() {
        assert_eq!(parse_shards("http://a"), vec![vec!["http://a".to_string()]]);
        assert_eq!(
            parse_shards(" http://a, http://b ;http://c;"),
            vec![
                vec!["http://a".to_string(), "http://b".to_string()],
                vec!["http://c".to_string()]
            ]
        );
        assert!(parse_shards(" ; ").is_empty());
    }
}
