//! `rewrite: {"n": N}`: the generator (the query's provider) writes N rewordings of the
//! question; the question and each rewording are retrieved concurrently and the lists fused
//! with reciprocal rank fusion, so a passage worded unlike the question can still be found.
//! The profile shows `rewrite` (writing the variants, with them as its detail), `retrieve`
//! (all retrievals) and one `retrieve.variant.I` per query with the query as detail.

use crate::api::responses::ExpansionReport;
use crate::error::GatewayError;
use crate::query::expand::questions::question_lines;
use crate::query::expand::rank_fusion::fuse;
use crate::query::expand::{ExpansionCalls, retrieve_all};
use crate::query::profile::Profile;
use ragmesh_proto::v1::ScoredChunk;
use std::time::Instant;

fn instruction(n: u32) -> String {
    format!(
        "Rewrite the user's question in {n} different ways that keep its meaning. \
         Write one question per line and nothing else."
    )
}

/// The fused candidates for `question` and its rewordings (lists fused with RRF constant
/// `rrf_k`), and the rewordings.
pub async fn search(
    calls: &impl ExpansionCalls,
    question: &str,
    n: u32,
    rrf_k: u32,
    profile: &mut Profile,
) -> Result<(Vec<ScoredChunk>, ExpansionReport), GatewayError> {
    let started = Instant::now();
    let text = calls
        .instructed_text(&instruction(n), question, Vec::new())
        .await?;
    let variants = question_lines(&text, n as usize, &[question.to_string()]);
    profile.record_detail("rewrite", started.elapsed(), variants.join(" | "));

    let mut queries = vec![question.to_string()];
    queries.extend(variants.iter().cloned());
    let (lists, elapsed) = retrieve_all(calls, &queries, profile, "retrieve.variant").await?;
    profile.record_duration("retrieve", elapsed);
    let fused = fuse(lists, rrf_k);
    Ok((fused, ExpansionReport::Rewrite { variants }))
}
