//! A query as a client sends it ([`QueryRequest`], the body of `/api/query`,
//! `/api/query/stream` and `/api/retrieve`) and its validation into the [`QueryPlan`] the
//! pipeline runs. Everything here happens before any backend is called, and every message
//! names the field and the allowed range, so a client can fix the request without reading the
//! docs.

use crate::error::GatewayError;
use crate::query::generator_choice::GeneratorCatalog;
use ragmesh_config::{AnswerMode, GatewaySettings, GeneratorIdentity};
use ragmesh_core::fusion::FusionMethod;
use ragmesh_proto::v1::Method;
use serde::Deserialize;
use std::collections::BTreeMap;

/// Most sources an answer (`/api/query`, `/api/query/stream`) may be built from.
pub const MAX_K: u32 = 50;
/// Most chunks `/api/retrieve` returns: deep enough for evaluation at document level (100
/// distinct documents of several chunks each), bounded so one request stays a few MB.
pub const MAX_RETRIEVE_K: u32 = 1000;
pub const MAX_RRF_K: u32 = 10_000;
/// Candidates a reranker may be given; the same bound as k, which the retrieval service accepts.
pub const MAX_RERANK_TOP_N: u32 = 50;
pub const MAX_NEW_TOKENS: u32 = 4096;
pub const MAX_FILTERS: usize = 32;
pub const METHODS: [&str; 3] = ["hybrid", "vector", "bm25"];

/// Body of `/api/query`, `/api/query/stream` and `/api/retrieve`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueryRequest {
    pub query: String,
    #[serde(default)]
    pub collection: Option<String>,
    #[serde(default)]
    pub k: Option<u32>,
    #[serde(default)]
    pub method: Option<String>,
    /// How hybrid search fuses its legs: `score` or `rrf` (None: retrieval's default).
    #[serde(default)]
    pub fusion: Option<String>,
    #[serde(default)]
    pub rrf_k: Option<u32>,
    #[serde(default)]
    pub rerank: Option<bool>,
    #[serde(default)]
    pub rerank_top_n: Option<u32>,
    #[serde(default)]
    pub filters: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub max_new_tokens: Option<u32>,
    /// Generation provider: `embedded`, `ollama` or `openai`; unknown → 422.
    #[serde(default)]
    pub provider: Option<String>,
    /// `{"n": 2}`: retrieve for n generated rewordings too and fuse the lists with RRF.
    #[serde(default)]
    pub rewrite: Option<RewriteBody>,
    /// `{"depth": 2, "fanout": 2}`: decompose into sub-questions and retrieve for each.
    #[serde(default)]
    pub multihop: Option<MultihopBody>,
    /// `generate` (the model writes the answer) or `extractive` (source sentences, no
    /// model); None: `answer.mode`.
    #[serde(default)]
    pub answer_mode: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RewriteBody {
    pub n: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MultihopBody {
    #[serde(default)]
    pub depth: Option<u32>,
    #[serde(default)]
    pub fanout: Option<u32>,
}

pub const MAX_REWRITES: u32 = 5;
pub const MAX_HOPS: u32 = 3;
pub const MAX_FANOUT: u32 = 4;

/// How the question is expanded before retrieval (at most one of the two).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expansion {
    /// Retrieve for the question and `n` generated rewordings; fuse with RRF.
    Rewrite { n: u32 },
    /// `depth` rounds of `fanout` sub-questions, each retrieved; fuse with RRF.
    Multihop { depth: u32, fanout: u32 },
}

/// A validated query with every default filled in: what the pipeline runs.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryPlan {
    /// Trimmed query text.
    pub query: String,
    pub collection: String,
    pub k: u32,
    pub method: Method,
    /// How a hybrid search fuses its legs; None: the retrieval service's configured default
    /// (always None for one-leg methods, where there is nothing to fuse).
    pub fusion: Option<FusionMethod>,
    /// None: the retrieval service's configured constant.
    pub rrf_k: Option<u32>,
    pub rerank: bool,
    pub rerank_top_n: u32,
    pub filters: BTreeMap<String, String>,
    /// None: the generation service's configured default.
    pub max_new_tokens: Option<u32>,
    /// The provider the request named (None: the generation service's default).
    pub provider: Option<String>,
    /// Who will answer, resolved from configuration: provider, `provider:model` and prompt
    /// template version. Everything that must not mix answers of different generators (a
    /// cache key) uses this.
    pub generator: GeneratorIdentity,
    pub expansion: Option<Expansion>,
    /// The mode the request asked for (None: the configured `answer.mode`).
    pub answer_mode: Option<AnswerMode>,
}

impl QueryPlan {
    /// Candidates to fetch from retrieval: with reranking, enough for the reranker to choose from.
    pub fn candidates(&self) -> u32 {
        if self.rerank {
            self.k.max(self.rerank_top_n)
        } else {
            self.k
        }
    }
}

fn invalid(message: String) -> GatewayError {
    GatewayError::InvalidArgument(message)
}

fn in_range(name: &str, value: u32, low: u32, high: u32) -> Result<u32, GatewayError> {
    if (low..=high).contains(&value) {
        Ok(value)
    } else {
        Err(invalid(format!(
            "{name} must be between {low} and {high}, got {value}"
        )))
    }
}

/// Parses `hybrid`, `vector` or `bm25` (case-insensitive).
pub fn parse_method(method: &str) -> Result<Method, GatewayError> {
    match method.to_ascii_lowercase().as_str() {
        "hybrid" => Ok(Method::Hybrid),
        "vector" => Ok(Method::Vector),
        "bm25" => Ok(Method::Bm25),
        _ => Err(invalid(format!(
            "unknown method {method:?}: use one of {}",
            METHODS.join(", ")
        ))),
    }
}

pub fn parse_fusion(fusion: &str) -> Result<FusionMethod, GatewayError> {
    FusionMethod::parse(fusion).ok_or_else(|| {
        invalid(format!(
            "unknown fusion {fusion:?}: use one of {}",
            FusionMethod::NAMES.join(", ")
        ))
    })
}

/// The fusion a plan asks for. An `rrf_k` without a `fusion` asks for RRF (as it did before
/// score fusion existed); with `fusion: "score"` it only makes sense for the RRF that merges
/// rewrite/multihop lists. One-leg methods fuse nothing.
fn resolve_fusion(
    method: Method,
    fusion: Option<FusionMethod>,
    rrf_k: Option<u32>,
    expands: bool,
) -> Result<Option<FusionMethod>, GatewayError> {
    if fusion == Some(FusionMethod::Score) && rrf_k.is_some() && !expands {
        return Err(invalid(
            "rrf_k has no effect with fusion \"score\": it sets reciprocal rank fusion \
             (fusion \"rrf\", and the merging of rewrite/multihop lists)"
                .into(),
        ));
    }
    if !matches!(method, Method::Hybrid | Method::Unspecified) {
        return Ok(None);
    }
    Ok(fusion.or(rrf_k.map(|_| FusionMethod::Rrf)))
}

pub fn validate_collection(name: &str) -> Result<String, GatewayError> {
    ragmesh_core::validate_collection(name)
        .map(str::to_string)
        .map_err(|e| invalid(e.to_string()))
}

/// Checks every field of a query and fills in defaults from `settings`; the generator is
/// resolved with `generators`. `k` may be at most [`MAX_K`].
pub fn query_plan(
    request: QueryRequest,
    settings: &GatewaySettings,
    generators: &GeneratorCatalog,
) -> Result<QueryPlan, GatewayError> {
    plan_with_max_k(request, settings, generators, MAX_K)
}

/// [`query_plan`] for `/api/retrieve`, which answers with chunks only and so may return up
/// to [`MAX_RETRIEVE_K`] of them.
pub fn retrieve_plan(
    request: QueryRequest,
    settings: &GatewaySettings,
    generators: &GeneratorCatalog,
) -> Result<QueryPlan, GatewayError> {
    plan_with_max_k(request, settings, generators, MAX_RETRIEVE_K)
}

fn plan_with_max_k(
    request: QueryRequest,
    settings: &GatewaySettings,
    generators: &GeneratorCatalog,
    max_k: u32,
) -> Result<QueryPlan, GatewayError> {
    let query = request.query.trim();
    if query.is_empty() {
        return Err(invalid("query must not be empty".into()));
    }
    let chars = query.chars().count();
    if chars > settings.max_query_chars {
        return Err(invalid(format!(
            "query is {chars} characters long; the limit is {}",
            settings.max_query_chars
        )));
    }
    let collection = validate_collection(
        request
            .collection
            .as_deref()
            .unwrap_or(ragmesh_core::DEFAULT_COLLECTION),
    )?;
    let k = in_range("k", request.k.unwrap_or(settings.default_k), 1, max_k)?;
    let method = parse_method(request.method.as_deref().unwrap_or("hybrid"))?;
    let rrf_k = request
        .rrf_k
        .map(|v| in_range("rrf_k", v, 1, MAX_RRF_K))
        .transpose()?;
    let fusion = request.fusion.as_deref().map(parse_fusion).transpose()?;
    let rerank_top_n = in_range(
        "rerank_top_n",
        request.rerank_top_n.unwrap_or(settings.rerank_top_n),
        1,
        MAX_RERANK_TOP_N,
    )?;
    let max_new_tokens = request
        .max_new_tokens
        .map(|v| in_range("max_new_tokens", v, 1, MAX_NEW_TOKENS))
        .transpose()?;
    let filters = request.filters.unwrap_or_default();
    if filters.len() > MAX_FILTERS {
        return Err(invalid(format!(
            "filters has {} entries; the limit is {MAX_FILTERS}",
            filters.len()
        )));
    }
    if filters.keys().any(|key| key.trim().is_empty()) {
        return Err(invalid("filters keys must not be empty".into()));
    }
    let generator = generators.choose(request.provider.as_deref())?;
    let expansion = match (request.rewrite, request.multihop) {
        (Some(_), Some(_)) => {
            return Err(invalid(
                "rewrite and multihop cannot be combined: choose one".into(),
            ));
        }
        (Some(r), None) => Some(Expansion::Rewrite {
            n: in_range("rewrite.n", r.n, 1, MAX_REWRITES)?,
        }),
        (None, Some(m)) => Some(Expansion::Multihop {
            depth: in_range("multihop.depth", m.depth.unwrap_or(2), 1, MAX_HOPS)?,
            fanout: in_range("multihop.fanout", m.fanout.unwrap_or(2), 1, MAX_FANOUT)?,
        }),
        (None, None) => None,
    };
    let fusion = resolve_fusion(method, fusion, rrf_k, expansion.is_some())?;
    let answer_mode = request
        .answer_mode
        .as_deref()
        .map(|mode| {
            AnswerMode::parse(mode).ok_or_else(|| {
                invalid(format!(
                    "unknown answer_mode {mode:?}: use one of {}",
                    AnswerMode::NAMES.join(", ")
                ))
            })
        })
        .transpose()?;
    Ok(QueryPlan {
        answer_mode,
        provider: request.provider.map(|p| generator_name(&p)),
        generator,
        expansion,
        query: query.to_string(),
        collection,
        k,
        method,
        fusion,
        rrf_k,
        rerank: request.rerank.unwrap_or(false),
        rerank_top_n,
        filters,
        max_new_tokens,
    })
}

/// A provider name as sent on: trimmed, lowercase.
fn generator_name(provider: &str) -> String {
    provider.trim().to_ascii_lowercase()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn request(json: serde_json::Value) -> QueryRequest {
        serde_json::from_value(json).unwrap()
    }

    fn plan(json: serde_json::Value) -> Result<QueryPlan, GatewayError> {
        query_plan(
            request(json),
            &GatewaySettings::default(),
            &GeneratorCatalog::default(),
        )
    }

    fn message(json: serde_json::Value) -> String {
        plan(json).unwrap_err().to_string()
    }

    #[test]
    fn provider_rewrite_and_multihop_are_checked() {
        use ragmesh_core::{Classify, ErrorCode};
        use serde_json::json;
        let p = plan(json!({ "query": "q" })).unwrap();
        assert_eq!((p.provider.as_deref(), p.expansion), (None, None));
        assert_eq!(p.generator.provider, "embedded");
        assert_eq!(p.generator.model, "embedded:SmolLM2-135M-Instruct");
        let p = plan(json!({ "query": "q", "provider": "Ollama" })).unwrap();
        assert_eq!(p.provider.as_deref(), Some("ollama"));
        assert_eq!(p.generator.provider, "ollama");
        let err = plan(json!({ "query": "q", "provider": "gpt" })).unwrap_err();
        assert_eq!(err.code(), ErrorCode::UnprocessableEntity);
        assert_eq!(
            err.to_string(),
            "unknown provider \"gpt\": use one of embedded, ollama, openai"
        );
        let p = plan(json!({ "query": "q", "rewrite": { "n": 2 } })).unwrap();
        assert_eq!(p.expansion, Some(Expansion::Rewrite { n: 2 }));
        let p = plan(json!({ "query": "q", "multihop": { "depth": 2, "fanout": 3 } })).unwrap();
        assert_eq!(
            p.expansion,
            Some(Expansion::Multihop {
                depth: 2,
                fanout: 3
            })
        );
        assert_eq!(
            message(json!({ "query": "q", "rewrite": { "n": 0 } })),
            "rewrite.n must be between 1 and 5, got 0"
        );
        assert_eq!(
            message(json!({ "query": "q", "multihop": { "depth": 4 } })),
            "multihop.depth must be between 1 and 3, got 4"
        );
        assert!(
            message(json!({ "query": "q", "rewrite": { "n": 1 }, "multihop": {} }))
                .contains("cannot be combined")
        );
    }

    #[test]
    fn defaults_fill_a_minimal_query() {
        let plan = self::plan(serde_json::json!({ "query": "  why?  " })).unwrap();
        assert_eq!(plan.query, "why?");
        assert_eq!(plan.collection, "default");
        assert_eq!(
            (plan.k, plan.method, plan.rrf_k, plan.rerank),
            (5, Method::Hybrid, None, false)
        );
        assert_eq!(plan.rerank_top_n, 10);
        assert_eq!(plan.candidates(), 5);
        let plan = self::plan(
            serde_json::json!({ "query": "q", "k": 3, "rerank": true, "method": "BM25" }),
        )
        .unwrap();
        assert_eq!((plan.candidates(), plan.method), (10, Method::Bm25));
    }

    #[test]
    fn fusion_is_parsed_implied_by_rrf_k_and_dropped_for_one_leg() {
        use serde_json::json;
        let fusion = |body| self::plan(body).unwrap().fusion;
        assert_eq!(fusion(json!({ "query": "q" })), None);
        assert_eq!(
            fusion(json!({ "query": "q", "fusion": "RRF" })),
            Some(FusionMethod::Rrf)
        );
        assert_eq!(
            fusion(json!({ "query": "q", "fusion": "score" })),
            Some(FusionMethod::Score)
        );
        assert_eq!(
            fusion(json!({ "query": "q", "rrf_k": 20 })),
            Some(FusionMethod::Rrf)
        );
        assert_eq!(
            fusion(json!({ "query": "q", "fusion": "rrf", "method": "vector" })),
            None
        );
        assert_eq!(
            fusion(json!({ "query": "q", "fusion": "score", "rrf_k": 20, "rewrite": { "n": 1 } })),
            Some(FusionMethod::Score)
        );
        assert_eq!(
            message(json!({ "query": "q", "fusion": "combsum" })),
            "unknown fusion \"combsum\": use one of score, rrf"
        );
        assert!(
            message(json!({ "query": "q", "fusion": "score", "rrf_k": 20 }))
                .starts_with("rrf_k has no effect with fusion \"score\"")
        );
    }

    #[test]
    fn every_bad_field_is_named_with_its_range() {
        use serde_json::json;
        assert_eq!(
            message(json!({ "query": " \n" })),
            "query must not be empty"
        );
        assert_eq!(
            message(json!({ "query": "é".repeat(4097) })),
            "query is 4097 characters long; the limit is 4096"
        );
        assert!(plan(json!({ "query": "é".repeat(4096) })).is_ok());
        assert_eq!(
            message(json!({ "query": "q", "k": 0 })),
            "k must be between 1 and 50, got 0"
        );
        assert_eq!(
            message(json!({ "query": "q", "k": 51 })),
            "k must be between 1 and 50, got 51"
        );
        assert_eq!(
            message(json!({ "query": "q", "rrf_k": 0 })),
            "rrf_k must be between 1 and 10000, got 0"
        );
        assert_eq!(
            message(json!({ "query": "q", "rrf_k": 10001 })),
            "rrf_k must be between 1 and 10000, got 10001"
        );
        assert_eq!(
            message(json!({ "query": "q", "method": "magic" })),
            "unknown method \"magic\": use one of hybrid, vector, bm25"
        );
        assert!(
            message(json!({ "query": "q", "collection": "../etc" }))
                .contains("invalid collection name")
        );
        assert!(
            message(json!({ "query": "q", "rerank_top_n": 0 }))
                .starts_with("rerank_top_n must be between 1")
        );
        assert!(
            message(json!({ "query": "q", "max_new_tokens": 0 }))
                .starts_with("max_new_tokens must be between 1")
        );
        assert_eq!(
            message(json!({ "query": "q", "filters": { " ": "x" } })),
            "filters keys must not be empty"
        );
        assert_eq!(
            message(json!({ "query": "q", "answer_mode": "summary" })),
            "unknown answer_mode \"summary\": use one of generate, extractive"
        );
        assert_eq!(
            plan(json!({ "query": "q", "answer_mode": "Extractive" }))
                .unwrap()
                .answer_mode,
            Some(AnswerMode::Extractive)
        );
    }

    #[test]
    fn retrieve_may_ask_for_more_chunks_than_an_answer_uses() {
        let request = |k: u32| self::request(serde_json::json!({ "query": "q", "k": k }));
        let settings = GatewaySettings::default();
        let generators = GeneratorCatalog::default();
        let retrieve = |k| retrieve_plan(request(k), &settings, &generators);
        assert_eq!(retrieve(MAX_RETRIEVE_K).unwrap().k, 1000);
        assert_eq!(
            retrieve(1001).unwrap_err().to_string(),
            "k must be between 1 and 1000, got 1001"
        );
        assert_eq!(
            query_plan(request(51), &settings, &generators)
                .unwrap_err()
                .to_string(),
            "k must be between 1 and 50, got 51"
        );
    }
}
