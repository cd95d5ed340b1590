//! Which cached answers a request may see. Two requests can share an answer only when
//! everything that changes the answer is equal: the collection and its current generation
//! (bumped by every write), the cache epoch (bumped by "clear all", and new whenever Redis
//! loses its data), and a hash of every answer-changing parameter. The old service keyed on
//! the query text and database only, and served answers made with another k, filter or model.

use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};

/// Every parameter that changes an answer, as the gateway resolved it (defaults filled in).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct AnswerScope {
    pub collection: String,
    pub k: u32,
    /// `hybrid`, `vector` or `bm25`.
    pub method: String,
    /// `score` or `rrf`; None: the retrieval service's default.
    pub fusion: Option<&'static str>,
    /// None: the retrieval service's default constant.
    pub rrf_k: Option<u32>,
    /// Metadata filters; a BTreeMap, so their order in the request does not matter.
    pub filters: BTreeMap<String, String>,
    pub rerank: bool,
    pub rerank_top_n: u32,
    /// The reranker the gateway talks to (its address), when reranking.
    pub reranker: String,
    /// Generation backend (its address or kind) and model.
    pub generator_backend: String,
    pub generator_model: String,
    /// None: the generation service's default.
    pub max_new_tokens: Option<u32>,
    /// Version of the prompt template (a hash of the configured template).
    pub prompt_version: String,
}

impl AnswerScope {
    /// A stable hash of every parameter except the collection (which is kept readable).
    /// Fields are written with their names and lengths, so no two scopes can collide by
    /// concatenation.
    pub fn params_hash(&self) -> String {
        let mut h = Sha256::new();
        let mut field = |name: &str, value: &str| {
            h.update(name.as_bytes());
            h.update((value.len() as u64).to_le_bytes());
            h.update(value.as_bytes());
        };
        field("k", &self.k.to_string());
        field("method", &self.method);
        field("fusion", self.fusion.unwrap_or("-"));
        field("rrf_k", &opt(self.rrf_k));
        field("filters", &self.filters.len().to_string());
        for (key, value) in &self.filters {
            field("filter.key", key);
            field("filter.value", value);
        }
        field("rerank", &self.rerank.to_string());
        if self.rerank {
            field("rerank_top_n", &self.rerank_top_n.to_string());
            field("reranker", &self.reranker);
        }
        field("generator_backend", &self.generator_backend);
        field("generator_model", &self.generator_model);
        field("max_new_tokens", &opt(self.max_new_tokens));
        field("prompt_version", &self.prompt_version);
        hex::encode(&h.finalize()[..12])
    }
}

fn opt(value: Option<u32>) -> String {
    value.map(|v| v.to_string()).unwrap_or_else(|| "-".into())
}

/// The resolved key space of one request: `collection`, `epoch`, `generation`, params hash.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Namespace {
    pub collection: String,
    pub epoch: String,
    pub generation: u64,
    pub params: String,
}

impl Namespace {
    /// One string naming the namespace (used in Redis keys and as the L1 shard name).
    pub fn key(&self) -> String {
        format!(
            "{}|{}|{}|{}",
            self.collection, self.epoch, self.generation, self.params
        )
    }
}

/// [`AnswerScope::params_hash`] of the scopes seen lately: a SHA-256 per request was 10 % of
/// a gateway's work on an L1 hit. Forgets everything past [`ScopeHashes::MAX`] scopes.
#[derive(Debug, Default)]
pub struct ScopeHashes {
    memo: parking_lot::Mutex<HashMap<AnswerScope, String>>,
}

impl ScopeHashes {
    pub const MAX: usize = 256;

    pub fn hash(&self, scope: &AnswerScope) -> String {
        let mut memo = self.memo.lock();
        if let Some(hash) = memo.get(scope) {
            return hash.clone();
        }
        if memo.len() >= Self::MAX {
            memo.clear();
        }
        let hash = scope.params_hash();
        memo.insert(scope.clone(), hash.clone());
        hash
    }
}

/// Hex SHA-256 prefix of a normalised query: the exact-match key inside a namespace.
pub fn query_hash(normalized: &str) -> String {
    hex::encode(&Sha256::digest(normalized.as_bytes())[..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope() -> AnswerScope {
        AnswerScope {
            collection: "docs".into(),
            k: 5,
            method: "hybrid".into(),
            generator_backend: "http://127.0.0.1:50053".into(),
            ..AnswerScope::default()
        }
    }

    #[test]
    fn every_answer_changing_parameter_changes_the_hash() {
        let base = scope().params_hash();
        let changed: Vec<AnswerScope> = vec![
            AnswerScope { k: 6, ..scope() },
            AnswerScope {
                method: "bm25".into(),
                ..scope()
            },
            AnswerScope {
                fusion: Some("rrf"),
                ..scope()
            },
            AnswerScope {
                fusion: Some("score"),
                ..scope()
            },
            AnswerScope {
                rrf_k: Some(60),
                ..scope()
            },
            AnswerScope {
                filters: [("language".to_string(), "en".to_string())].into(),
                ..scope()
            },
            AnswerScope {
                rerank: true,
                ..scope()
            },
            AnswerScope {
                generator_backend: "ollama".into(),
                ..scope()
            },
            AnswerScope {
                generator_model: "llama3".into(),
                ..scope()
            },
            AnswerScope {
                max_new_tokens: Some(48),
                ..scope()
            },
            AnswerScope {
                prompt_version: "v2".into(),
                ..scope()
            },
        ];
        for other in changed {
            assert_ne!(other.params_hash(), base, "{other:?}");
        }
        // The collection is not in the hash (it is its own part of the namespace).
        assert_eq!(
            AnswerScope {
                collection: "other".into(),
                ..scope()
            }
            .params_hash(),
            base
        );
    }

    #[test]
    fn filter_values_cannot_collide_by_concatenation() {
        let a = AnswerScope {
            filters: [("ab".to_string(), "c".to_string())].into(),
            ..scope()
        };
        let b = AnswerScope {
            filters: [("a".to_string(), "bc".to_string())].into(),
            ..scope()
        };
        assert_ne!(a.params_hash(), b.params_hash());
    }

    #[test]
    fn remembered_hashes_equal_fresh_ones_and_the_memo_stays_bounded() {
        let hashes = ScopeHashes::default();
        let base = scope();
        assert_eq!(hashes.hash(&base), base.params_hash());
        assert_eq!(hashes.hash(&base), base.params_hash());
        for k in 0..(ScopeHashes::MAX as u32 + 10) {
            let other = AnswerScope { k, ..scope() };
            assert_eq!(hashes.hash(&other), other.params_hash());
        }
        assert!(hashes.memo.lock().len() <= ScopeHashes::MAX);
    }
}
