//! Query expansion: retrieving for more texts than the question alone and fusing the lists
//! with reciprocal rank fusion — generated rewordings ([`rewrite`]) or sub-questions over
//! several hops ([`multihop`]). Both receive what they need as [`ExpansionCalls`] (one
//! retrieval for a text, the generator's reply to an instruction) and never call back into the
//! pipeline, so they are tested with fakes.

pub mod multihop;
pub mod questions;
pub mod rank_fusion;
pub mod rewrite;

use crate::error::GatewayError;
use crate::query::profile::Profile;
use ragmesh_proto::v1::{Context, ScoredChunk};
use std::future::Future;
use std::time::{Duration, Instant};

/// What query expansion asks of the rest of the query, bound to one query's plan and request.
pub trait ExpansionCalls: Sync {
    /// One retrieval for `query` with the plan's collection, method and filters.
    fn retrieve(
        &self,
        query: &str,
    ) -> impl Future<Output = Result<Vec<ScoredChunk>, GatewayError>> + Send;

    /// The generator's full reply to `instruction` with `user` (and `contexts`) as the user
    /// turn.
    fn instructed_text(
        &self,
        instruction: &str,
        user: &str,
        contexts: Vec<Context>,
    ) -> impl Future<Output = Result<String, GatewayError>> + Send;
}

/// Retrieves every query concurrently; records `{step}.{i}` per query (detail: the query).
/// Returns the lists in query order and the wall time of the whole batch.
pub async fn retrieve_all(
    calls: &impl ExpansionCalls,
    queries: &[String],
    profile: &mut Profile,
    step: &str,
) -> Result<(Vec<Vec<ScoredChunk>>, Duration), GatewayError> {
    let started = Instant::now();
    let batch = queries.iter().map(|query| async move {
        let t = Instant::now();
        let result = calls.retrieve(query).await;
        (result, t.elapsed())
    });
    let results = futures::future::join_all(batch).await;
    let elapsed = started.elapsed();
    let mut lists = Vec::with_capacity(results.len());
    for (i, (query, (result, took))) in queries.iter().zip(results).enumerate() {
        profile.record_detail(format!("{step}.{i}"), took, query.clone());
        lists.push(result?);
    }
    Ok((lists, elapsed))
}
