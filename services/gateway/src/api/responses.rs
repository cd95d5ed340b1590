//! The JSON shapes the gateway answers with. They are the public contract (end-to-end tests
//! and the CLI read them), so they live in one place, separate from how they are computed.

use crate::query::profile::ProfileReport;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One retrieved chunk as a numbered source. `index` is what the answer cites as `[index]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Source {
    pub index: usize,
    pub source: String,
    pub chunk: u32,
    pub text: String,
    /// The retrieval score (hybrid: normalised leg scores summed, 0..2, or RRF; vector:
    /// cosine; bm25: BM25).
    pub score: f32,
    /// The cross-encoder's logit, when a reranker model ordered the sources.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rerank_score: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vector_score: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bm25_score: Option<f32>,
    pub collection: String,
    pub metadata: BTreeMap<String, String>,
}

/// What the generation service reported about the answer it produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenerationInfo {
    /// `provider:model`, e.g. `embedded:SmolLM2-135M-Instruct`.
    pub model: String,
    /// `embedded`, `ollama` or `openai`.
    pub provider: String,
    /// Version (hash) of the prompt template the answer was made with.
    pub prompt_version: String,
    /// Source indices that were really in the prompt; citations are checked against these.
    pub contexts_sent: Vec<u32>,
    pub prompt_tokens: u32,
    pub generated_tokens: u32,
    /// `stop` (the model finished) or `length` (cut at max_new_tokens).
    pub finish_reason: String,
}

/// How the semantic cache took part in an answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CacheInfo {
    pub hit: bool,
    /// `l1` (this gateway) or `l2` (Redis, shared); null on a miss.
    pub tier: Option<String>,
    /// `exact` or `semantic`; null on a miss.
    #[serde(rename = "match")]
    pub match_kind: Option<String>,
    /// 1.0 for exact hits, the cosine for semantic ones; null on a miss.
    pub similarity: Option<f32>,
    /// The question the cached answer was made for; null on a miss.
    pub original_query: Option<String>,
}

impl CacheInfo {
    pub fn miss() -> CacheInfo {
        CacheInfo {
            hit: false,
            tier: None,
            match_kind: None,
            similarity: None,
            original_query: None,
        }
    }
}

/// `POST /api/query`, and the `done` event of `/api/query/stream`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueryResponse {
    pub answer: String,
    pub sources: Vec<Source>,
    /// Which reranker ordered the sources (`none` keeps retrieval order); absent without rerank.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reranker: Option<String>,
    /// Absent when nothing relevant was found and no model was asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generation: Option<GenerationInfo>,
    /// The generated rewordings or sub-questions, when the query asked for `rewrite` or
    /// `multihop`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expansion: Option<ExpansionReport>,
    /// Absent when the cache is disabled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache: Option<CacheInfo>,
    pub profile: ProfileReport,
    pub trace_id: String,
}

/// What query expansion did before retrieval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExpansionReport {
    /// `{"rewrite":{"variants":[...]}}`: the rewordings retrieved besides the question.
    Rewrite { variants: Vec<String> },
    /// `{"multihop":{"sub_questions":[[hop 1...],[hop 2...]]}}`: sub-questions per hop.
    Multihop { sub_questions: Vec<Vec<String>> },
}

/// `POST /api/retrieve`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RetrieveResponse {
    pub sources: Vec<Source>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reranker: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expansion: Option<ExpansionReport>,
    pub profile: ProfileReport,
    pub trace_id: String,
}

/// `POST /api/collections/{c}/documents`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IngestResponse {
    pub collection: String,
    pub documents: u32,
    pub chunks: u32,
    pub chunks_added: u32,
    pub chunks_removed: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CollectionSummary {
    pub name: String,
    pub documents: u32,
    pub chunks: u32,
}

/// `GET /api/collections`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CollectionsResponse {
    pub collections: Vec<CollectionSummary>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DocumentSummary {
    pub source: String,
    pub chunks: u32,
    pub metadata: BTreeMap<String, String>,
}

/// `GET /api/collections/{c}/documents`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DocumentsResponse {
    pub collection: String,
    pub documents: Vec<DocumentSummary>,
}

/// `DELETE /api/collections/{c}/documents?source=NAME`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeleteResponse {
    pub collection: String,
    pub source: String,
    pub chunks_deleted: u32,
}
