//! The `[cache]` section: the gateway's semantic answer cache (L1 in process, optional L2 on
//! Redis shared by every gateway). L2 is on exactly when `l2_redis_url` is set, so `ragmesh up`
//! on a laptop needs no Redis; with it set, a Redis outage only turns L2 off until Redis is
//! back (breaker), queries keep working from L1.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct CacheSettings {
    pub enabled: bool,
    /// Cosine similarity at or above which a paraphrase is a hit (measured in docs/cache.md).
    pub threshold: f32,
    /// Token-level near-miss check (negations, numbers, swapped names) after a semantic match.
    pub verify: bool,
    pub ttl_secs: u64,
    /// Entries kept in this process (LRU beyond).
    pub l1_max_entries: usize,
    /// `redis://host:port[/db]`; unset means no L2.
    pub l2_redis_url: Option<String>,
    /// Entries kept in Redis per namespace (collection × generation × parameters).
    pub l2_max_entries: usize,
    /// Deadline of every Redis command, milliseconds (at most 50 keeps a slow Redis cheap).
    pub l2_command_timeout_ms: u64,
    /// Prefix of every Redis key and of the invalidation channel (several deployments, or
    /// tests, can share one Redis).
    pub l2_key_prefix: String,
    /// How long a collection generation read from Redis is trusted before it is read again,
    /// milliseconds. Pub/sub messages update it at once; this bounds staleness when a message
    /// is lost.
    pub l2_generation_check_ms: u64,
}

impl Default for CacheSettings {
    fn default() -> Self {
        CacheSettings {
            enabled: true,
            threshold: 0.90,
            verify: true,
            ttl_secs: 3600,
            l1_max_entries: 1000,
            l2_redis_url: None,
            l2_max_entries: 10_000,
            l2_command_timeout_ms: 50,
            l2_key_prefix: "ragmesh:cache".into(),
            l2_generation_check_ms: 500,
        }
    }
}

impl CacheSettings {
    /// The first rule the values break, as a message naming the key.
    pub fn problem(&self) -> Option<String> {
        if !(self.threshold > 0.0 && self.threshold <= 1.0) {
            return Some(format!(
                "cache.threshold must be in (0, 1], got {}",
                self.threshold
            ));
        }
        if self.ttl_secs == 0 {
            return Some("cache.ttl_secs must be positive".into());
        }
        if self.l1_max_entries == 0 {
            return Some("cache.l1_max_entries must be at least 1".into());
        }
        if self.l2_max_entries == 0 {
            return Some("cache.l2_max_entries must be at least 1".into());
        }
        if !(1..=50).contains(&self.l2_command_timeout_ms) {
            return Some(format!(
                "cache.l2_command_timeout_ms must be in 1..=50, got {}",
                self.l2_command_timeout_ms
            ));
        }
        if self.l2_key_prefix.is_empty() {
            return Some("cache.l2_key_prefix must not be empty".into());
        }
        None
    }
}
