//! L1: answers held in this gateway process. One shard per namespace, each behind its own
//! `RwLock`; lookups take read locks only (many requests search at once, and a search never
//! waits for another), inserts and evictions take a shard's write lock for a few
//! microseconds. The shard map itself is locked only to find or create a shard.
//!
//! Shards are found by the [`Namespace`] itself and entries by their normalised query text,
//! so an exact hit hashes a few short strings and formats and digests nothing (the Redis
//! tier's key strings and SHA-256 cost a tenth of an L1 hit when they were used here too).
//!
//! Policy: entries expire `ttl` after they were stored (checked on every read, removed lazily
//! and by [`LocalTier::purge_expired`]); above `max_entries` the least recently used entry of
//! any namespace is evicted (an exact scan of the LRU stamps, done on insert only).

use crate::clock::Clock;
use crate::entry::{CacheHit, CachedEntry, IndexedEntry, MatchKind, Tier};
use crate::namespace::Namespace;
use crate::vector_index::VectorIndex;
use crate::verify::QuerySignature;
use parking_lot::RwLock;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Semantic candidates checked by the verifier before a lookup gives up.
pub const VERIFY_CANDIDATES: usize = 8;

#[derive(Debug)]
struct Shard {
    namespace: Namespace,
    index: RwLock<VectorIndex<IndexedEntry>>,
}

/// Counts of what a maintenance step removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Removed {
    pub evicted: u64,
    pub expired: u64,
}

#[derive(Debug)]
pub struct LocalTier {
    shards: RwLock<HashMap<Namespace, Arc<Shard>>>,
    lru_clock: AtomicU64,
    clock: Clock,
}

impl LocalTier {
    pub fn new(clock: Clock) -> LocalTier {
        LocalTier {
            shards: RwLock::new(HashMap::new()),
            lru_clock: AtomicU64::new(1),
            clock,
        }
    }

    fn shard(&self, namespace: &Namespace) -> Option<Arc<Shard>> {
        self.shards.read().get(namespace).cloned()
    }

    fn touch(&self, entry: &IndexedEntry) {
        let stamp = self.lru_clock.fetch_add(1, Ordering::Relaxed);
        entry.last_used.store(stamp, Ordering::Relaxed);
    }

    /// Entries stored now.
    pub fn len(&self) -> usize {
        let shards: Vec<Arc<Shard>> = self.shards.read().values().cloned().collect();
        shards.iter().map(|s| s.index.read().len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The entry stored for exactly `normalized` in `namespace`, unless expired.
    pub fn get_exact(&self, namespace: &Namespace, normalized: &str) -> Option<CacheHit> {
        let shard = self.shard(namespace)?;
        let now = self.clock.now_ms();
        let index = shard.index.read();
        let found = index.get(normalized)?;
        if found.expires_ms <= now {
            return None;
        }
        self.touch(found);
        Some(CacheHit {
            tier: Tier::L1,
            kind: MatchKind::Exact,
            similarity: 1.0,
            entry: found.entry.clone(),
        })
    }

    /// The most similar unexpired entry at or above `threshold` whose query passes the
    /// near-miss check against `query` (when `verify` is on).
    pub fn get_semantic(
        &self,
        namespace: &Namespace,
        query: &QuerySignature,
        vector: &[f32],
        threshold: f32,
        verify: bool,
    ) -> Option<CacheHit> {
        let shard = self.shard(namespace)?;
        let now = self.clock.now_ms();
        let index = shard.index.read();
        for (_, found, score) in index.best_matches(vector, threshold, VERIFY_CANDIDATES) {
            if found.expires_ms <= now || (verify && !found.signature.agrees_with(query)) {
                continue;
            }
            self.touch(found);
            return Some(CacheHit {
                tier: Tier::L1,
                kind: MatchKind::Semantic,
                similarity: score,
                entry: found.entry.clone(),
            });
        }
        None
    }

    /// Stores `entry` for `ttl_ms` and evicts least recently used entries above `max_entries`.
    pub fn insert(
        &self,
        namespace: &Namespace,
        entry: Arc<CachedEntry>,
        ttl_ms: u64,
        max_entries: usize,
    ) -> Removed {
        let shard = {
            let mut shards = self.shards.write();
            shards
                .entry(namespace.clone())
                .or_insert_with(|| {
                    Arc::new(Shard {
                        namespace: namespace.clone(),
                        index: RwLock::new(VectorIndex::default()),
                    })
                })
                .clone()
        };
        let indexed = IndexedEntry {
            signature: QuerySignature::of(&entry.query),
            expires_ms: self.clock.now_ms().saturating_add(ttl_ms),
            last_used: AtomicU64::new(self.lru_clock.fetch_add(1, Ordering::Relaxed)),
            entry: entry.clone(),
        };
        shard
            .index
            .write()
            .insert(entry.normalized.clone(), &entry.vector, indexed);
        self.enforce_limit(max_entries)
    }

    /// Removes expired entries, then the least recently used ones until at most `max_entries`
    /// remain.
    pub fn enforce_limit(&self, max_entries: usize) -> Removed {
        let mut removed = Removed {
            expired: self.purge_expired(),
            evicted: 0,
        };
        loop {
            let shards: Vec<Arc<Shard>> = self.shards.read().values().cloned().collect();
            let total: usize = shards.iter().map(|s| s.index.read().len()).sum();
            if total <= max_entries {
                break;
            }
            let mut oldest: Option<(u64, Arc<Shard>, String)> = None;
            for shard in &shards {
                let index = shard.index.read();
                for (key, item) in index.iter() {
                    let stamp = item.last_used.load(Ordering::Relaxed);
                    if oldest.as_ref().is_none_or(|(best, _, _)| stamp < *best) {
                        oldest = Some((stamp, shard.clone(), key.to_string()));
                    }
                }
            }
            let Some((_, shard, key)) = oldest else {
                break;
            };
            if shard.index.write().remove(&key).is_some() {
                removed.evicted += 1;
            }
        }
        self.drop_empty_shards();
        removed
    }

    /// Removes every expired entry; returns how many.
    pub fn purge_expired(&self) -> u64 {
        let now = self.clock.now_ms();
        let shards: Vec<Arc<Shard>> = self.shards.read().values().cloned().collect();
        let mut expired = 0;
        for shard in shards {
            let stale: Vec<String> = shard
                .index
                .read()
                .iter()
                .filter(|(_, item)| item.expires_ms <= now)
                .map(|(key, _)| key.to_string())
                .collect();
            if stale.is_empty() {
                continue;
            }
            let mut index = shard.index.write();
            for key in stale {
                if index.remove(&key).is_some() {
                    expired += 1;
                }
            }
        }
        expired
    }

    /// Drops every namespace of `collection` (all of them when None) for which `keep` is false;
    /// returns the number of entries dropped.
    pub fn retain(&self, collection: Option<&str>, keep: impl Fn(&Namespace) -> bool) -> u64 {
        let mut shards = self.shards.write();
        let mut dropped = 0;
        shards.retain(|_, shard| {
            let in_scope = collection.is_none_or(|c| shard.namespace.collection == c);
            if in_scope && !keep(&shard.namespace) {
                dropped += shard.index.read().len() as u64;
                false
            } else {
                true
            }
        });
        dropped
    }

    fn drop_empty_shards(&self) {
        self.shards
            .write()
            .retain(|_, s| !s.index.read().is_empty());
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn ns(collection: &str, generation: u64) -> Namespace {
        Namespace {
            collection: collection.into(),
            epoch: "e".into(),
            generation,
            params: "p".into(),
        }
    }

    fn entry(query: &str, vector: Vec<f32>) -> Arc<CachedEntry> {
        Arc::new(CachedEntry {
            query: query.into(),
            normalized: crate::normalize_query(query),
            vector,
            payload: serde_json::json!({ "answer": query }),
            created_ms: 0,
            rendered: Default::default(),
        })
    }

    #[test]
    fn entries_expire_after_ttl_with_a_controlled_clock() {
        let clock = Clock::manual(1_000);
        let l1 = LocalTier::new(clock.clone());
        l1.insert(
            &ns("c", 0),
            entry("What is RRF?", vec![1.0, 0.0]),
            3_600_000,
            10,
        );
        clock.advance_ms(3_599_999);
        assert!(l1.get_exact(&ns("c", 0), "what is rrf").is_some());
        let sig = QuerySignature::of("what is rrf");
        assert!(
            l1.get_semantic(&ns("c", 0), &sig, &[1.0, 0.0], 0.9, true)
                .is_some()
        );
        clock.advance_ms(1);
        assert!(l1.get_exact(&ns("c", 0), "what is rrf").is_none());
        assert!(
            l1.get_semantic(&ns("c", 0), &sig, &[1.0, 0.0], 0.9, true)
                .is_none()
        );
        assert_eq!(l1.purge_expired(), 1);
        assert_eq!(l1.len(), 0);
    }

    #[test]
    fn the_least_recently_used_entry_is_evicted_first() {
        let l1 = LocalTier::new(Clock::manual(0));
        let n = ns("c", 0);
        for q in ["q1", "q2", "q3"] {
            l1.insert(&n, entry(q, vec![]), 60_000, 3);
        }
        // q1 is used again, so q2 is now the least recently used.
        assert!(l1.get_exact(&n, "q1").is_some());
        let removed = l1.insert(&n, entry("q4", vec![]), 60_000, 3);
        assert_eq!(
            removed,
            Removed {
                evicted: 1,
                expired: 0
            }
        );
        assert!(l1.get_exact(&n, "q2").is_none());
        for q in ["q1", "q3", "q4"] {
            assert!(l1.get_exact(&n, q).is_some(), "{q}");
        }
        // Shrinking the limit evicts down to it, oldest first.
        assert_eq!(l1.enforce_limit(1).evicted, 2);
        assert!(l1.get_exact(&n, "q4").is_some());
    }

    #[test]
    fn namespaces_are_separate_and_old_generations_can_be_dropped() {
        let l1 = LocalTier::new(Clock::manual(0));
        l1.insert(&ns("a", 0), entry("q", vec![1.0, 0.0]), 60_000, 10);
        l1.insert(&ns("b", 0), entry("q", vec![1.0, 0.0]), 60_000, 10);
        assert!(
            l1.get_exact(&ns("a", 1), "q").is_none(),
            "generation is in the key"
        );
        assert!(
            l1.get_exact(&ns("c", 0), "q").is_none(),
            "collection is in the key"
        );
        assert_eq!(l1.retain(Some("a"), |n| n.generation >= 1), 1);
        assert!(l1.get_exact(&ns("a", 0), "q").is_none());
        assert!(l1.get_exact(&ns("b", 0), "q").is_some());
    }

    #[test]
    fn a_semantic_candidate_that_fails_verification_is_skipped() {
        let l1 = LocalTier::new(Clock::manual(0));
        let n = ns("c", 0);
        l1.insert(
            &n,
            entry("Does coffee cause insomnia?", vec![1.0, 0.0]),
            60_000,
            10,
        );
        let negated = QuerySignature::of("Does coffee not cause insomnia?");
        assert!(
            l1.get_semantic(&n, &negated, &[1.0, 0.0], 0.9, true)
                .is_none()
        );
        assert!(
            l1.get_semantic(&n, &negated, &[1.0, 0.0], 0.9, false)
                .is_some()
        );
    }
}
