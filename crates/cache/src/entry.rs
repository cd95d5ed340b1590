//! What the cache stores and what a lookup returns.

use crate::verify::QuerySignature;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// One cached answer. The payload is opaque to the cache (the gateway stores its response and
/// the token sequence needed to replay a stream).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CachedEntry {
    /// The query as the user first asked it.
    pub query: String,
    pub normalized: String,
    /// Unit-length query embedding; empty when the entry can only be found exactly.
    #[serde(default)]
    pub vector: Vec<f32>,
    pub payload: serde_json::Value,
    pub created_ms: u64,
    /// What the gateway made of `payload` the first time it answered from this entry (the
    /// response's JSON up to the per-request fields), kept beside it so that later hits on the
    /// same in-process entry skip decoding and re-encoding it. Never stored in Redis.
    #[serde(skip)]
    pub rendered: std::sync::OnceLock<Arc<str>>,
}

/// Which tier answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    L1,
    L2,
}

impl Tier {
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::L1 => "l1",
            Tier::L2 => "l2",
        }
    }
}

/// How the query matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MatchKind {
    Exact,
    Semantic,
}

impl MatchKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MatchKind::Exact => "exact",
            MatchKind::Semantic => "semantic",
        }
    }
}

/// A cache hit.
#[derive(Debug, Clone)]
pub struct CacheHit {
    pub tier: Tier,
    pub kind: MatchKind,
    /// 1.0 for exact hits, the cosine for semantic ones.
    pub similarity: f32,
    pub entry: Arc<CachedEntry>,
}

/// An entry as the in-process index holds it.
#[derive(Debug)]
pub(crate) struct IndexedEntry {
    pub entry: Arc<CachedEntry>,
    pub signature: QuerySignature,
    pub expires_ms: u64,
    /// LRU clock value of the last hit or insert (updated under a read lock).
    pub last_used: std::sync::atomic::AtomicU64,
}
