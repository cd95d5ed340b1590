//! `rewrite: {"n": N}`: the generator (the query's provider) writes N rewordings of the
//! question; the question and each rewording are retrieved concurrently and the lists fused
//! with reciprocal rank fusion, so a passage worded unlike the question can still be found.
//! The profile shows `rewrite` (writing the variants, with them as its detail), `retrieve`
//! (all retrievals) and one `retrieve.variant.I` per query with the query as detail.

use crate::errors::GatewayError;
use crate::instruct::{instructed_text, question_lines};
use crate::pipeline::Pipeline;
use crate::profile::Profile;
use crate::rank_fusion::{DEFAULT_RRF_K, fuse};
use crate::request_context::RequestContext;
use crate::responses::ExpansionReport;
use crate::validate::QueryPlan;
use ragmesh_proto::v1::ScoredChunk;
use std::time::{Duration, Instant};

fn instruction(n: u32) -> String {
    format!(
        "Rewrite the user's question in {n} different ways that keep its meaning. \
         Write one question per line and nothing else."
    )
}

/// The fused candidates for the question and its rewordings, and the rewordings.
pub async fn search(
    pipeline: &Pipeline,
    plan: &QueryPlan,
    n: u32,
    ctx: &RequestContext,
    profile: &mut Profile,
) -> Result<(Vec<ScoredChunk>, ExpansionReport), GatewayError> {
    let started = Instant::now();
    let text = instructed_text(
        pipeline,
        plan,
        &instruction(n),
        &plan.query,
        Vec::new(),
        ctx,
    )
    .await?;
    let variants = question_lines(&text, n as usize, std::slice::from_ref(&plan.query));
    profile.record_detail("rewrite", started.elapsed(), variants.join(" | "));

    let mut queries = vec![plan.query.clone()];
    queries.extend(variants.iter().cloned());
    let (lists, elapsed) =
        retrieve_all(pipeline, plan, &queries, ctx, profile, "retrieve.variant").await?;
    profile.record_duration("retrieve", elapsed);
    let fused = fuse(lists, plan.rrf_k.unwrap_or(DEFAULT_RRF_K));
    Ok((fused, ExpansionReport::Rewrite { variants }))
}

/// Retrieves every query concurrently; records `{step}.{i}` per query (detail: the query).
/// Returns the lists in query order and the wall time of the whole batch.
pub async fn retrieve_all(
    pipeline: &Pipeline,
    plan: &QueryPlan,
    queries: &[String],
    ctx: &RequestContext,
    profile: &mut Profile,
    step: &str,
) -> Result<(Vec<Vec<ScoredChunk>>, Duration), GatewayError> {
    let started = Instant::now();
    let calls = queries.iter().map(|query| async move {
        let t = Instant::now();
        let result = pipeline.retrieve_for(plan, query, ctx).await;
        (result, t.elapsed())
    });
    let results = futures::future::join_all(calls).await;
    let elapsed = started.elapsed();
    let mut lists = Vec::with_capacity(results.len());
    for (i, (query, (result, took))) in queries.iter().zip(results).enumerate() {
        profile.record_detail(format!("{step}.{i}"), took, query.clone());
        lists.push(result?);
    }
    Ok((lists, elapsed))
}
