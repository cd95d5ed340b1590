//! The semantic answer cache of the gateway: repeated and paraphrased questions are answered
//! from memory instead of running retrieval and generation again.
//!
//! - [`normalize`]: the exact-match form of a query;
//! - [`namespace`]: which requests may share an answer (collection, generation, parameters);
//! - [`verify`]: the near-miss check after a semantic match (every content word accounted for
//!   by a lemma, derivation or WordNet synonym; negations, numbers, names);
//! - [`local`] (L1, in process) and [`redis_tier`] (L2, Redis, shared by all gateways);
//! - [`semantic_cache`]: the lookup order, invalidation, runtime config and stats.
//!
//! Design, costs and measurements: docs/cache.md.

pub mod breaker;
pub mod clock;
pub mod entry;
pub mod error;
pub mod local;
pub mod namespace;
pub mod normalize;
pub mod redis_tier;
pub mod semantic_cache;
pub mod stats;
pub mod vector_index;
pub mod verify;

pub use clock::Clock;
pub use entry::{CacheHit, CachedEntry, MatchKind, Tier};
pub use error::CacheError;
pub use namespace::{AnswerScope, Namespace};
pub use normalize::normalize_query;
pub use semantic_cache::{RuntimeConfig, RuntimeConfigPatch, SemanticCache};
pub use stats::CacheStats;
