//! The semantic cache in front of the query pipeline (crate `ragmesh-cache` holds the cache
//! itself). For `/api/query` and `/api/query/stream`:
//!
//! 1. the request's namespace is resolved (collection, generation, every answer-changing
//!    parameter — see [`scope`]) and the normalised query is looked up exactly: no embedding;
//! 2. otherwise the query is embedded once (retrieval `Embed`) and looked up semantically;
//! 3. on a miss the same vector goes to `Retrieve` (and to passage selection), and a complete,
//!    successful answer (the model finished; never an error, a cut stream or the nothing-found
//!    reply) is stored with the model's tokens and its grounded sentences, so a streamed hit
//!    replays `contexts`, the same `token` and `sentence` events in the same order, and `done`. Extractive
//!    answers (no model) are neither looked up nor stored.
//!
//! Profile steps: `cache` (the whole lookup), with `cache.exact`, `cache.embed` and
//! `cache.semantic` under it; those three are also spans (the tiers' spans, `cache.l1.exact`
//! …, and the `Embed` call sit under them), and storing is the `cache.store` span.
//!
//! What is stored and replayed is [`cached_answer`]; the `Cache-Status` header is
//! [`cache_status`].

pub mod cache_status;
pub mod cached_answer;

use crate::answer_cache::cached_answer::{CachedAnswer, Replay};
use crate::api::responses::{CacheInfo, QueryResponse};
use crate::error::GatewayError;
use crate::query::plan::QueryPlan;
use crate::query::profile::Profile;
use crate::request_context::RequestContext;
use crate::state::AppState;
use bytes::Bytes;
use ragmesh_cache::{AnswerScope, CacheHit, Namespace, SemanticCache, normalize_query};
use ragmesh_config::{AnswerMode, AnswerSettings, GatewaySettings};
use ragmesh_core::fusion::FusionMethod;
use ragmesh_proto::v1::{EmbedRequest, Method};
use std::time::Instant;
use tracing::Instrument;

/// Every parameter that changes the answer to `plan` on this gateway. The `[answer]`
/// settings that change a generated answer (passage budget, support threshold, unsupported
/// policy) go with the prompt version: they change what the model is shown and how its answer
/// is grounded.
pub fn scope(plan: &QueryPlan, settings: &GatewaySettings, answer: &AnswerSettings) -> AnswerScope {
    AnswerScope {
        collection: plan.collection.clone(),
        k: plan.k,
        method: match plan.method {
            Method::Vector => "vector",
            Method::Bm25 => "bm25",
            Method::Hybrid | Method::Unspecified => "hybrid",
        }
        .to_string(),
        fusion: plan.fusion.map(FusionMethod::name),
        rrf_k: plan.rrf_k,
        filters: plan.filters.clone(),
        rerank: plan.rerank,
        rerank_top_n: plan.rerank_top_n,
        reranker: settings.rerank_url.clone(),
        generator_backend: plan.generator.provider.clone(),
        generator_model: plan.generator.model.clone(),
        max_new_tokens: plan.max_new_tokens,
        prompt_version: format!(
            "{}+passages{}+support{}+{}",
            plan.generator.prompt_version,
            answer.passage_budget_tokens,
            answer.support_threshold,
            answer.unsupported.name()
        ),
    }
}

/// What a miss knows, so the answer can be stored and the embedding reused.
#[derive(Debug, Default)]
pub struct Miss {
    /// None when the cache is disabled (nothing is stored).
    namespace: Option<Namespace>,
    query: String,
    normalized: String,
    /// The query's embedding (empty when not computed).
    pub vector: Vec<f32>,
    /// The request's span, parent of the `cache.store` span (a stream stores after the
    /// handler has returned, outside that span).
    parent: Option<tracing::Span>,
}

pub enum Lookup {
    Hit(Box<Replay>),
    Miss(Miss),
}

/// Steps 1–2 (module header). Errors only when the embedding call fails, which means retrieval
/// is down and the query could not be answered anyway.
pub async fn lookup(
    state: &AppState,
    plan: &QueryPlan,
    ctx: &RequestContext,
    profile: &mut Profile,
) -> Result<Lookup, GatewayError> {
    let cache = &state.cache;
    // Query expansion (rewrite, multihop) is generated per request: not cached. Extractive
    // answers cost about what a lookup costs: not cached either.
    if !cache.is_enabled()
        || plan.expansion.is_some()
        || state.pipeline.mode(plan) == AnswerMode::Extractive
    {
        return Ok(Lookup::Miss(Miss::default()));
    }
    let started = Instant::now();
    let normalized = normalize_query(&plan.query);
    let (namespace, hit) = async {
        let scope = scope(plan, &state.settings, state.pipeline.answer_settings());
        let namespace = cache.namespace(&scope).await;
        let hit = cache.lookup_exact(&namespace, &normalized).await;
        (namespace, hit)
    }
    .instrument(tracing::info_span!("cache.exact"))
    .await;
    profile.record_duration("cache.exact", started.elapsed());
    if let Some(hit) = hit {
        profile.record_duration("cache", started.elapsed());
        return Ok(hit_or_miss(hit, profile, ctx, cache));
    }
    // The calls below are boxed: their futures are large, and an exact hit (the common case
    // this function must make cheap) should not carry and move them.
    let embed_started = Instant::now();
    let embedded = Box::pin(
        state
            .pipeline
            .backends()
            .embed(
                EmbedRequest {
                    texts: vec![plan.query.clone()],
                },
                ctx,
            )
            .instrument(tracing::info_span!("cache.embed")),
    )
    .await;
    profile.record_duration("cache.embed", embed_started.elapsed());
    let vector = match embedded {
        Ok(response) => response
            .vectors
            .into_iter()
            .next()
            .map(|v| v.values)
            .unwrap_or_default(),
        Err(e) => {
            cache.record_miss();
            return Err(e);
        }
    };
    let semantic_started = Instant::now();
    let hit = Box::pin(
        cache
            .lookup_semantic(&namespace, &plan.query, &vector)
            .instrument(tracing::info_span!("cache.semantic")),
    )
    .await;
    profile.record_duration("cache.semantic", semantic_started.elapsed());
    profile.record_duration("cache", started.elapsed());
    if let Some(hit) = hit {
        return Ok(hit_or_miss(hit, profile, ctx, cache));
    }
    Ok(Lookup::Miss(Miss {
        namespace: Some(namespace),
        query: plan.query.clone(),
        normalized,
        vector,
        parent: Some(tracing::Span::current()),
    }))
}

/// The hit as a response for this request; an entry that no longer decodes (written by an
/// older gateway version) is a miss.
fn hit_or_miss(
    hit: CacheHit,
    profile: &Profile,
    ctx: &RequestContext,
    cache: &SemanticCache,
) -> Lookup {
    match Replay::new(hit, profile.report(), ctx.trace_id.clone()) {
        Ok(replay) => Lookup::Hit(Box::new(replay)),
        Err(e) => {
            tracing::warn!(error = %e, "cached entry does not decode; treated as a miss");
            cache.record_miss();
            Lookup::Miss(Miss::default())
        }
    }
}

impl Miss {
    /// Its `Cache-Status` header: a miss, or a bypass when the cache was not consulted.
    pub fn cache_status(&self) -> http::HeaderValue {
        let miss = CacheInfo::miss();
        crate::answer_cache::cache_status::header_value(self.namespace.as_ref().map(|_| &miss))
    }

    /// Marks `response` as a miss and stores it when it is a complete answer of the model.
    pub async fn store(
        &self,
        cache: &SemanticCache,
        response: &mut QueryResponse,
        tokens: Vec<String>,
    ) {
        let Some(namespace) = &self.namespace else {
            return;
        };
        response.cache = Some(CacheInfo::miss());
        if response.generation.is_none() {
            return;
        }
        let cached = CachedAnswer {
            response: response.clone(),
            tokens,
        };
        let span = match &self.parent {
            Some(parent) => tracing::info_span!(parent: parent, "cache.store"),
            None => tracing::info_span!("cache.store"),
        };
        match serde_json::to_value(&cached) {
            Ok(payload) => {
                cache
                    .store(
                        namespace,
                        &self.query,
                        &self.normalized,
                        self.vector.clone(),
                        payload,
                    )
                    .instrument(span)
                    .await
            }
            Err(e) => tracing::warn!(error = %e, "answer not cached: cannot encode it"),
        }
    }
}

/// What `/api/query` sends: a fresh answer, or a cached one already encoded.
pub enum Answer {
    Fresh(Box<QueryResponse>),
    /// The encoded answer and its `Cache-Status` header.
    Cached(Bytes, http::HeaderValue),
}

/// `/api/query`: a hit, or the pipeline's answer (stored when complete).
pub async fn answer(
    state: &AppState,
    plan: &QueryPlan,
    ctx: &RequestContext,
) -> Result<Answer, GatewayError> {
    let mut profile = Profile::start();
    let miss = match lookup(state, plan, ctx, &mut profile).await? {
        Lookup::Hit(replay) => {
            let status = crate::answer_cache::cache_status::header_value(Some(replay.cache()));
            return replay
                .json_body()
                .map(|body| Answer::Cached(body, status))
                .map_err(|e| GatewayError::Encode(format!("cached answer: {e}")));
        }
        Lookup::Miss(miss) => miss,
    };
    // Boxed: the pipeline's future is large, and a hit should not move it around.
    let (mut response, tokens) = Box::pin(state.pipeline.answer_with(
        plan,
        miss.vector.clone(),
        ctx,
        profile,
    ))
    .await?;
    Box::pin(miss.store(&state.cache, &mut response, tokens)).await;
    Ok(Answer::Fresh(Box::new(response)))
}
