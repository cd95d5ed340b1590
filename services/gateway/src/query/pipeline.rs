//! The query pipeline, written once and shared by `/api/query`, `/api/query/stream` and
//! `/api/retrieve`. Each step is its own method so later steps (a semantic cache before
//! `search`, more generation backends behind `start_generation`) slot in without touching
//! the others:
//!
//! 1. `retrieve` — the retrieval service embeds the query and searches (its own sub-steps
//!    come back as `retrieve.embed`, `retrieve.bm25`, ...); with `rewrite` or `multihop` the
//!    question is first expanded by the generator and every variant is retrieved and fused
//!    (see [`crate::query::expand`], which gets the retrieval and generator calls it needs
//!    from here as [`ExpansionCalls`]);
//! 2. `rerank` (only when asked) — max(k, rerank_top_n) candidates go to the cross-encoder,
//!    the best k are kept; reranker `none` keeps the order and is reported;
//! 3. `start_generation` — the sources, numbered 1..n in order, go to the model;
//! 4. `complete` — citations of contexts the model was not shown are removed and the
//!    profile is closed.
//!
//! No hits means no generation: the answer says honestly that nothing relevant was found.

use crate::api::responses::{ExpansionReport, QueryResponse, RetrieveResponse, Source};
use crate::backends::Backends;
use crate::backends::backend::Backend;
use crate::error::GatewayError;
use crate::query::answer_stream::{AnswerStream, GenerationEvent, GenerationSummary};
use crate::query::citations::{clean_citations, clean_citations_sent};
use crate::query::expand::{ExpansionCalls, multihop, rewrite};
use crate::query::instruct::instructed_text;
use crate::query::plan::{Expansion, QueryPlan};
use crate::query::profile::Profile;
use crate::query::profile_window::ProfileWindow;
use crate::request_context::RequestContext;
use futures::StreamExt;
use ragmesh_core::fusion::FusionMethod;
use ragmesh_proto::v1::{
    Context, Fusion, GenerateRequest, RerankRequest, RerankResult, RetrieveRequest, ScoredChunk,
};
use ragmesh_retrieval_client::ServiceError;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::Instrument;

/// The answer when retrieval found nothing: no model is asked, so nothing can be made up.
pub const NOTHING_FOUND_ANSWER: &str = "I found nothing relevant to this question in the collection, so I cannot answer it from the documents.";

/// Sources chosen for a query, best first, numbered from 1.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Found {
    pub sources: Vec<Source>,
    /// Set when reranking was asked for and candidates went to the reranker.
    pub reranker: Option<String>,
    /// The rewordings or sub-questions retrieved for, when the query asked for them.
    pub expansion: Option<ExpansionReport>,
}

#[derive(Clone)]
pub struct Pipeline {
    backends: Backends,
    /// The RRF constant query expansion fuses with when the query gives none: the retrieval
    /// service's configured `retrieval.rrf_k`.
    rrf_k: u32,
    /// Every finished query's profile, for `/api/profile/stats`.
    profiles: Arc<ProfileWindow>,
}

impl Pipeline {
    /// `rrf_k`: the configured `retrieval.rrf_k`.
    pub fn new(backends: Backends, rrf_k: u32) -> Pipeline {
        Pipeline {
            backends,
            rrf_k,
            profiles: Arc::default(),
        }
    }

    /// The recent queries' profiles (this gateway's window).
    pub fn profile_window(&self) -> &Arc<ProfileWindow> {
        &self.profiles
    }

    pub fn backends(&self) -> &Backends {
        &self.backends
    }

    /// Steps 1–2: the numbered sources for `plan`.
    pub async fn search(
        &self,
        plan: &QueryPlan,
        ctx: &RequestContext,
        profile: &mut Profile,
    ) -> Result<Found, GatewayError> {
        self.search_with_vector(plan, Vec::new(), ctx, profile)
            .await
    }

    /// [`Pipeline::search`] with the query's embedding already computed (by the cache
    /// lookup), so retrieval does not embed it again; empty means "embed it". Query expansion
    /// (rewrite, multihop) retrieves for other texts and embeds those itself.
    pub async fn search_with_vector(
        &self,
        plan: &QueryPlan,
        query_vector: Vec<f32>,
        ctx: &RequestContext,
        profile: &mut Profile,
    ) -> Result<Found, GatewayError> {
        let calls = PlanCalls {
            pipeline: self,
            plan,
            ctx,
        };
        let rrf_k = self.expansion_rrf_k(plan);
        let (candidates, expansion) = match plan.expansion {
            None => (self.retrieve(plan, query_vector, ctx, profile).await?, None),
            Some(Expansion::Rewrite { n }) => {
                let (chunks, report) =
                    rewrite::search(&calls, &plan.query, n, rrf_k, profile).await?;
                (chunks, Some(report))
            }
            Some(Expansion::Multihop { depth, fanout }) => {
                let (chunks, report) =
                    multihop::search(&calls, &plan.query, (depth, fanout), rrf_k, profile).await?;
                (chunks, Some(report))
            }
        };
        if !plan.rerank || candidates.is_empty() {
            let chosen = candidates
                .into_iter()
                .take(plan.k as usize)
                .map(|c| (c, None))
                .collect();
            return Ok(Found {
                sources: number_sources(chosen, &plan.collection),
                reranker: None,
                expansion,
            });
        }
        let (chosen, reranker) = self.rerank(plan, candidates, ctx, profile).await?;
        Ok(Found {
            sources: number_sources(chosen, &plan.collection),
            reranker: Some(reranker),
            expansion,
        })
    }

    /// The RRF constant the lists of query expansion are fused with: the query's, else the
    /// configured one (as the retrieval service fuses its legs).
    fn expansion_rrf_k(&self, plan: &QueryPlan) -> u32 {
        plan.rrf_k.unwrap_or(self.rrf_k)
    }

    /// One retrieval call for `query` with the plan's collection, method and filters, for
    /// query expansion (which records its own profile steps).
    async fn retrieve_for(
        &self,
        plan: &QueryPlan,
        query: &str,
        ctx: &RequestContext,
    ) -> Result<Vec<ScoredChunk>, GatewayError> {
        let request = retrieve_request(plan, query);
        let span = tracing::info_span!("retrieve");
        Ok(self
            .backends
            .retrieve(request, ctx)
            .instrument(span)
            .await?
            .chunks)
    }

    async fn retrieve(
        &self,
        plan: &QueryPlan,
        query_vector: Vec<f32>,
        ctx: &RequestContext,
        profile: &mut Profile,
    ) -> Result<Vec<ScoredChunk>, GatewayError> {
        let mut request = retrieve_request(plan, &plan.query);
        request.query_vector = query_vector;
        let started = Instant::now();
        let span = tracing::info_span!("retrieve", k = plan.candidates());
        let response = self
            .backends
            .retrieve(request, ctx)
            .instrument(span)
            .await?;
        profile.record_duration("retrieve", started.elapsed());
        for step in &response.steps {
            profile.record(format!("retrieve.{}", step.name), step.ms);
        }
        Ok(response.chunks)
    }

    async fn rerank(
        &self,
        plan: &QueryPlan,
        candidates: Vec<ScoredChunk>,
        ctx: &RequestContext,
        profile: &mut Profile,
    ) -> Result<(Vec<(ScoredChunk, Option<f32>)>, String), GatewayError> {
        let request = RerankRequest {
            query: plan.query.clone(),
            passages: candidates.iter().map(|c| c.text.clone()).collect(),
            top_n: plan.k,
        };
        let started = Instant::now();
        let span = tracing::info_span!("rerank", passages = candidates.len());
        let response = self.backends.rerank(request, ctx).instrument(span).await?;
        profile.record_duration("rerank", started.elapsed());
        let chosen = reorder_by_rerank(candidates, &response.results, plan.k as usize)?;
        Ok((chosen, response.reranker))
    }

    /// Step 3: opens the model's answer stream over `sources` (numbered as they are).
    pub async fn start_generation(
        &self,
        plan: &QueryPlan,
        sources: &[Source],
        ctx: &RequestContext,
    ) -> Result<AnswerStream, GatewayError> {
        let request = GenerateRequest {
            query: plan.query.clone(),
            contexts: sources
                .iter()
                .map(|s| Context {
                    index: s.index as u32,
                    source: s.source.clone(),
                    text: s.text.clone(),
                })
                .collect(),
            max_new_tokens: plan.max_new_tokens.unwrap_or(0),
            provider: plan.provider.clone().unwrap_or_default(),
            instruction: String::new(),
        };
        let started = Instant::now();
        // Open until the answer stream is dropped: the whole generation as the gateway sees it.
        let span = tracing::info_span!("generate", contexts = sources.len());
        let chunks = self
            .backends
            .generate(request, ctx)
            .instrument(span.clone())
            .await?;
        Ok(
            AnswerStream::new(chunks.boxed(), started, self.backends.generate_timeout())
                .in_span(span),
        )
    }

    /// The whole query as one JSON answer.
    pub async fn answer(
        &self,
        plan: &QueryPlan,
        ctx: &RequestContext,
    ) -> Result<QueryResponse, GatewayError> {
        let (response, _) = self
            .answer_with(plan, Vec::new(), ctx, Profile::start())
            .await?;
        Ok(response)
    }

    /// The whole query as one JSON answer, with the query's embedding when already known,
    /// continuing `profile`; also returns the model's tokens as they came (the cache keeps
    /// them to replay a stream).
    pub async fn answer_with(
        &self,
        plan: &QueryPlan,
        query_vector: Vec<f32>,
        ctx: &RequestContext,
        mut profile: Profile,
    ) -> Result<(QueryResponse, Vec<String>), GatewayError> {
        let found = self
            .search_with_vector(plan, query_vector, ctx, &mut profile)
            .await?;
        if found.sources.is_empty() {
            let response = complete(NOTHING_FOUND_ANSWER, found, None, profile, ctx);
            self.profiles.record(&response.profile);
            return Ok((response, vec![NOTHING_FOUND_ANSWER.to_string()]));
        }
        let mut stream = self.start_generation(plan, &found.sources, ctx).await?;
        let mut raw = String::new();
        let mut tokens = Vec::new();
        while let Some(event) = stream.next_event().await {
            match event? {
                GenerationEvent::Token(text) => {
                    raw.push_str(&text);
                    tokens.push(text);
                }
                GenerationEvent::Done(summary) => {
                    let response = complete(&raw, found, Some(summary), profile, ctx);
                    self.profiles.record(&response.profile);
                    return Ok((response, tokens));
                }
            }
        }
        Err(ServiceError::Unavailable {
            service: Backend::Generation.name(),
            message: "no answer was produced".into(),
        }
        .into())
    }

    /// Steps 1–2 only, for `/api/retrieve`.
    pub async fn retrieve_only(
        &self,
        plan: &QueryPlan,
        ctx: &RequestContext,
    ) -> Result<RetrieveResponse, GatewayError> {
        let mut profile = Profile::start();
        let found = self.search(plan, ctx, &mut profile).await?;
        let report = profile.report();
        self.profiles.record(&report);
        Ok(RetrieveResponse {
            sources: found.sources,
            reranker: found.reranker,
            expansion: found.expansion,
            profile: report,
            trace_id: ctx.trace_id.clone(),
        })
    }
}

/// The calls query expansion makes for one query: retrieval with its plan, and the generator
/// of its provider.
struct PlanCalls<'a> {
    pipeline: &'a Pipeline,
    plan: &'a QueryPlan,
    ctx: &'a RequestContext,
}

impl ExpansionCalls for PlanCalls<'_> {
    fn retrieve(
        &self,
        query: &str,
    ) -> impl Future<Output = Result<Vec<ScoredChunk>, GatewayError>> + Send {
        self.pipeline.retrieve_for(self.plan, query, self.ctx)
    }

    fn instructed_text(
        &self,
        instruction: &str,
        user: &str,
        contexts: Vec<Context>,
    ) -> impl Future<Output = Result<String, GatewayError>> + Send {
        instructed_text(
            &self.pipeline.backends,
            self.plan.provider.as_deref(),
            instruction,
            user,
            contexts,
            self.ctx,
        )
    }
}

/// The retrieval call for `query` with the plan's collection, method, depth and filters.
fn retrieve_request(plan: &QueryPlan, query: &str) -> RetrieveRequest {
    RetrieveRequest {
        collection: plan.collection.clone(),
        query: query.to_string(),
        query_vector: Vec::new(),
        k: plan.candidates(),
        method: plan.method as i32,
        fusion: match plan.fusion {
            None => Fusion::Unspecified,
            Some(FusionMethod::Score) => Fusion::Score,
            Some(FusionMethod::Rrf) => Fusion::Rrf,
        } as i32,
        rrf_k: plan.rrf_k.unwrap_or(0),
        filters: plan.filters.clone().into_iter().collect(),
        ..RetrieveRequest::default()
    }
}

/// Step 4: the final response from the raw answer text (its profile is for the caller to
/// record in the window).
pub fn complete(
    raw_answer: &str,
    found: Found,
    generation: Option<GenerationSummary>,
    mut profile: Profile,
    ctx: &RequestContext,
) -> QueryResponse {
    if let Some(summary) = &generation {
        let generation_started = ragmesh_telemetry::started_before_now(Duration::from_secs_f64(
            summary.total_ms.max(0.0) / 1e3,
        ));
        profile.record_started(
            "generate.first_token",
            summary.first_token_ms,
            generation_started,
        );
        profile.record("generate", summary.total_ms);
    }
    let report = profile.report();
    // Citations may only name contexts the model was shown (packing may drop the last ones).
    let answer = match &generation {
        Some(summary) => clean_citations_sent(raw_answer.trim(), &summary.info.contexts_sent),
        None => clean_citations(raw_answer.trim(), found.sources.len()),
    };
    QueryResponse {
        answer,
        sources: found.sources,
        reranker: found.reranker,
        expansion: found.expansion,
        generation: generation.map(|g| g.info),
        cache: None,
        profile: report,
        trace_id: ctx.trace_id.clone(),
    }
}

/// The best `k` candidates in the reranker's order, each with its rerank score. Fewer results
/// than min(k, candidates) would silently shrink the answer's sources, and an index out of
/// range or repeated means the reranker scored something else: both are errors.
pub fn reorder_by_rerank(
    candidates: Vec<ScoredChunk>,
    results: &[RerankResult],
    k: usize,
) -> Result<Vec<(ScoredChunk, Option<f32>)>, GatewayError> {
    let expected = candidates.len().min(k);
    if results.len() < expected {
        return Err(ServiceError::BadAnswer {
            service: Backend::Rerank.name(),
            message: format!("asked for {expected} results, got {}", results.len()),
        }
        .into());
    }
    let passages = candidates.len();
    let mut slots: Vec<Option<ScoredChunk>> = candidates.into_iter().map(Some).collect();
    let mut chosen = Vec::with_capacity(expected);
    for result in results.iter().take(expected) {
        let Some(chunk) = slots.get_mut(result.index as usize).and_then(Option::take) else {
            return Err(ServiceError::BadAnswer {
                service: Backend::Rerank.name(),
                message: format!(
                    "result index {} is out of range or repeated ({passages} passages)",
                    result.index
                ),
            }
            .into());
        };
        chosen.push((chunk, result.score));
    }
    Ok(chosen)
}

fn number_sources(chosen: Vec<(ScoredChunk, Option<f32>)>, collection: &str) -> Vec<Source> {
    chosen
        .into_iter()
        .enumerate()
        .map(|(i, (chunk, rerank_score))| Source {
            index: i + 1,
            source: chunk.source,
            chunk: chunk.chunk_index,
            text: chunk.text,
            score: chunk.score,
            rerank_score,
            vector_score: chunk.vector_score,
            bm25_score: chunk.bm25_score,
            collection: collection.to_string(),
            metadata: chunk.metadata.into_iter().collect(),
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn expansion_fuses_with_the_configured_rrf_k_unless_the_query_gives_one() {
        let mut settings = ragmesh_config::Settings::default();
        settings.retrieval.rrf_k = 7;
        let pipeline = Pipeline::new(
            Backends::connect(&settings).unwrap(),
            settings.retrieval.rrf_k,
        );
        let plan = |body: serde_json::Value| {
            crate::query::plan::query_plan(
                serde_json::from_value(body).unwrap(),
                &settings.gateway,
                &crate::query::generator_choice::GeneratorCatalog::default(),
            )
            .unwrap()
        };
        let rewrite = serde_json::json!({ "query": "q", "rewrite": { "n": 1 } });
        assert_eq!(pipeline.expansion_rrf_k(&plan(rewrite)), 7);
        let asked = serde_json::json!({ "query": "q", "rrf_k": 3, "multihop": {} });
        assert_eq!(pipeline.expansion_rrf_k(&plan(asked)), 3);
    }

    fn chunk(source: &str) -> ScoredChunk {
        ScoredChunk {
            source: source.into(),
            text: format!("text of {source}"),
            ..ScoredChunk::default()
        }
    }

    fn result(index: u32, score: Option<f32>) -> RerankResult {
        RerankResult { index, score }
    }

    #[test]
    fn reranked_order_and_scores_are_kept_and_cut_to_k() {
        let candidates = vec![chunk("a"), chunk("b"), chunk("c")];
        let results = [
            result(2, Some(3.5)),
            result(0, Some(1.0)),
            result(1, Some(-2.0)),
        ];
        let chosen = reorder_by_rerank(candidates, &results, 2).unwrap();
        let order: Vec<(&str, Option<f32>)> = chosen
            .iter()
            .map(|(c, s)| (c.source.as_str(), *s))
            .collect();
        assert_eq!(order, [("c", Some(3.5)), ("a", Some(1.0))]);

        let numbered = number_sources(chosen, "docs");
        assert_eq!((numbered[0].index, numbered[1].index), (1, 2));
        assert_eq!(numbered[0].rerank_score, Some(3.5));
        assert_eq!(numbered[1].collection, "docs");
    }

    #[test]
    fn reranker_none_keeps_retrieval_order_without_scores() {
        let candidates = vec![chunk("a"), chunk("b")];
        let chosen = reorder_by_rerank(candidates, &[result(0, None), result(1, None)], 5).unwrap();
        let order: Vec<&str> = chosen.iter().map(|(c, _)| c.source.as_str()).collect();
        assert_eq!(order, ["a", "b"]);
        assert!(chosen.iter().all(|(_, score)| score.is_none()));
    }

    #[test]
    fn broken_rerank_answers_are_errors_not_shorter_answers() {
        let err = |results: &[RerankResult]| {
            reorder_by_rerank(vec![chunk("a"), chunk("b"), chunk("c")], results, 2)
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            err(&[result(0, None)]),
            "rerank service broke its contract: asked for 2 results, got 1"
        );
        assert!(
            err(&[result(0, None), result(9, None)])
                .contains("index 9 is out of range or repeated")
        );
        assert!(
            err(&[result(1, None), result(1, None)])
                .contains("index 1 is out of range or repeated")
        );
    }
}
