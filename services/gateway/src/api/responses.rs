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

/// One sentence of the answer, grounded in the passages that were sent (or, in extractive
/// mode, taken from them).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnswerSentence {
    /// The sentence without citation markers.
    pub text: String,
    /// Source numbers (`[n]`, 1-based) of passages that support it; only passages that were
    /// sent are ever named.
    pub citations: Vec<usize>,
    /// Support by the best sent passage, 0..1 (half word overlap, half embedding cosine).
    pub support: f32,
    /// `support` reached `answer.support_threshold`.
    pub supported: bool,
}

/// What grounding did to the answer's sentences and citations.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GroundingReport {
    pub sentences: u32,
    pub supported: u32,
    pub unsupported: u32,
    /// Sentences with at least one citation after grounding.
    pub cited: u32,
    /// Model-written citations its sentence matches.
    pub citations_kept: u32,
    /// Model-written citations replaced by the passage that supports the sentence.
    pub citations_corrected: u32,
    /// Citations given to sentences the model left without one.
    pub citations_added: u32,
    /// Model-written citations removed (not sent, or not supporting the sentence).
    pub citations_removed: u32,
    pub threshold: f32,
    /// `flag`, `drop` or `keep` (`answer.unsupported`).
    pub unsupported_policy: String,
}

/// A passage sent in the prompt (or, in extractive mode, a candidate the answer drew on).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PassageReport {
    /// The source number the passage belongs to (`[index]`).
    pub index: usize,
    pub text: String,
    /// Relevance to the question (0..1: half word match, half embedding cosine).
    pub score: f32,
}

fn generate_mode() -> String {
    "generate".into()
}

/// `POST /api/query`, and the `done` event of `/api/query/stream`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueryResponse {
    /// The final answer with `[n]` markers (after grounding; see `sentences`).
    pub answer: String,
    /// `generate` (the model wrote it) or `extractive` (source sentences, no model).
    #[serde(default = "generate_mode")]
    pub answer_mode: String,
    /// The answer sentence by sentence with citations and support.
    #[serde(default)]
    pub sentences: Vec<AnswerSentence>,
    #[serde(default)]
    pub grounding: GroundingReport,
    /// The passages sent in the prompt, in prompt order.
    #[serde(default)]
    pub passages: Vec<PassageReport>,
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
