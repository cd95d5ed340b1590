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
//! 3. `passages` — the sources are cut into sentences and the most relevant are chosen
//!    within the passage budget (see [`crate::query::answer`]);
//! 4. `start_generation` — the passages, under their source numbers, go to the model
//!    (extractive mode composes the answer from the best source sentences instead);
//! 5. `grounding` — every answer sentence is matched to the passages sent, its citations
//!    corrected, unsupported sentences flagged; then `complete` closes the profile.
//!
//! No hits means no generation: the answer says honestly that nothing relevant was found.

use crate::api::responses::{ExpansionReport, QueryResponse, RetrieveResponse, Source};
use crate::backends::Backends;
use crate::backends::backend::Backend;
use crate::error::GatewayError;
use crate::query::answer::completion::{Completion, complete};
use crate::query::answer::{self as answers, Embedder, GroundedAnswer, Selection};
use crate::query::answer_stream::{AnswerStream, GenerationEvent};
use crate::query::expand::{ExpansionCalls, multihop, rewrite};
use crate::query::instruct::instructed_text;
use crate::query::plan::{Expansion, QueryPlan};
use crate::query::profile::Profile;
use crate::query::profile_window::ProfileWindow;
use crate::query::sources::{number_sources, reorder_by_rerank};
use crate::request_context::RequestContext;
use futures::StreamExt;
use ragmesh_config::{AnswerMode, AnswerSettings};
use ragmesh_core::fusion::FusionMethod;
use ragmesh_proto::v1::{
    Context, Fusion, GenerateRequest, RerankRequest, RetrieveRequest, ScoredChunk,
};
use ragmesh_retrieval_client::ServiceError;
use std::future::Future;
use std::sync::Arc;
use std::time::Instant;
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
    /// `[answer]`: passage budget, grounding, default mode.
    answer: Arc<AnswerSettings>,
}

impl Pipeline {
    /// `rrf_k`: the configured `retrieval.rrf_k`.
    pub fn new(backends: Backends, rrf_k: u32) -> Pipeline {
        Pipeline {
            backends,
            rrf_k,
            profiles: Arc::default(),
            answer: Arc::default(),
        }
    }

    /// Makes answers with these `[answer]` settings (defaults otherwise).
    pub fn with_answer(mut self, answer: AnswerSettings) -> Pipeline {
        self.answer = Arc::new(answer);
        self
    }

    pub fn answer_settings(&self) -> &AnswerSettings {
        &self.answer
    }

    /// The mode `plan` is answered in: the request's, else `answer.mode`.
    pub fn mode(&self, plan: &QueryPlan) -> AnswerMode {
        plan.answer_mode.unwrap_or(self.answer.mode)
    }

    /// Step 3: the passages the answer is made from, recorded as the `passages` step.
    pub async fn select_passages(
        &self,
        plan: &QueryPlan,
        query_vector: Vec<f32>,
        sources: &[Source],
        ctx: &RequestContext,
        profile: &mut Profile,
    ) -> Result<Selection, GatewayError> {
        let started = Instant::now();
        let embedder = Embedder::retrieval(self.backends.clone(), ctx.clone());
        let span = tracing::info_span!("passages", sources = sources.len());
        let selection = answers::select(
            &embedder,
            &plan.query,
            query_vector,
            sources,
            &self.answer,
            self.mode(plan),
        )
        .instrument(span)
        .await?;
        let tokens: usize = selection
            .chosen
            .iter()
            .map(|&i| selection.candidates[i].tokens)
            .sum();
        profile.record_detail(
            "passages",
            started.elapsed(),
            format!(
                "{} of {} sentences, ~{tokens} tokens",
                selection.chosen.len(),
                selection.candidates.len()
            ),
        );
        Ok(selection)
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

    /// Step 4: opens the model's answer stream over `contexts` (the selected passages under
    /// their source numbers).
    pub async fn start_generation(
        &self,
        plan: &QueryPlan,
        contexts: Vec<Context>,
        ctx: &RequestContext,
    ) -> Result<AnswerStream, GatewayError> {
        let sent = contexts.len();
        let request = GenerateRequest {
            query: plan.query.clone(),
            contexts,
            max_new_tokens: plan.max_new_tokens.unwrap_or(0),
            provider: plan.provider.clone().unwrap_or_default(),
            instruction: String::new(),
        };
        let started = Instant::now();
        // Open until the answer stream is dropped: the whole generation as the gateway sees it.
        let span = tracing::info_span!("generate", contexts = sent);
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
            .search_with_vector(plan, query_vector.clone(), ctx, &mut profile)
            .await?;
        let mode = self.mode(plan);
        if found.sources.is_empty() {
            let completion = Completion::fixed(NOTHING_FOUND_ANSWER, mode, &self.answer);
            let response = complete(completion, found, None, profile, ctx);
            self.profiles.record(&response.profile);
            return Ok((response, vec![NOTHING_FOUND_ANSWER.to_string()]));
        }
        let selection = self
            .select_passages(plan, query_vector, &found.sources, ctx, &mut profile)
            .await?;
        if mode == AnswerMode::Extractive {
            let started = Instant::now();
            let report = selection.extractive_answer(&self.answer).report();
            profile.record_duration("grounding", started.elapsed());
            let tokens = vec![report.answer.clone()];
            let completion = Completion {
                mode,
                report,
                passages: selection.reports(),
            };
            let response = complete(completion, found, None, profile, ctx);
            self.profiles.record(&response.profile);
            return Ok((response, tokens));
        }
        let contexts = selection.contexts(&found.sources);
        let mut stream = self.start_generation(plan, contexts, ctx).await?;
        let mut raw = String::new();
        let mut tokens = Vec::new();
        while let Some(event) = stream.next_event().await {
            match event? {
                GenerationEvent::Token(text) => {
                    raw.push_str(&text);
                    tokens.push(text);
                }
                GenerationEvent::Done(summary) => {
                    let started = Instant::now();
                    let mut grounded = GroundedAnswer::new(selection.grounder(&self.answer));
                    grounded.restrict_to(&summary.info.contexts_sent);
                    let embedder = Embedder::retrieval(self.backends.clone(), ctx.clone());
                    grounded
                        .advance(&raw, true, &embedder)
                        .instrument(tracing::info_span!("grounding"))
                        .await?;
                    profile.record_duration("grounding", started.elapsed());
                    let completion = Completion {
                        mode,
                        report: grounded.report(),
                        passages: selection.reports(),
                    };
                    let response = complete(completion, found, Some(summary), profile, ctx);
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
}
