//! `rewrite: {"n": N}`: the generator (the query's provider) writes N rewordings of the
//! question; the question and each rewording are retrieved concurrently and the lists fused
//! with reciprocal rank fusion, so a passage worded unlike the question can still be found.
//! The profile shows `rewrite` (writing the variants, with them as its detail), `retrieve`
//! (all retrievals) and one `retrieve.variant.I` per query with the query as detail.

use crate::api::responses::ExpansionReport;
use crate::error::GatewayError;
use crate::query::expand::questions::question_lines;
use crate::query::expand::{ExpansionCalls, fuse, retrieve_all};
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::query::expand::tests::{chunk, ids};

    /// A generator that rewords the question once, and a retrieval whose lists put `a` on top
    /// of the question's list and `b` fourth in both lists.
    struct Fake;

    impl ExpansionCalls for Fake {
        async fn retrieve(&self, query: &str) -> Result<Vec<ScoredChunk>, GatewayError> {
            let names = if query == "Where is Quenby?" {
                ["a", "x1", "x2", "b"]
            } else {
                ["y1", "y2", "y3", "b"]
            };
            Ok(names.into_iter().map(chunk).collect())
        }

        async fn instructed_text(
            &self,
            _instruction: &str,
            _user: &str,
            _contexts: Vec<ragmesh_proto::v1::Context>,
        ) -> Result<String, GatewayError> {
            Ok("1. In which county is Quenby?".into())
        }
    }

    #[tokio::test]
    async fn the_rrf_constant_given_is_the_one_the_variants_are_fused_with() {
        let fused = |rrf_k| async move {
            let mut profile = Profile::start();
            search(&Fake, "Where is Quenby?", 1, rrf_k, &mut profile)
                .await
                .unwrap()
                .0
        };
        // k = 1: the top of one list (1/2) ties with the top of the other and beats the
        // fourth of both (2/5); k = 60: being in both lists wins (2/64 > 1/61).
        let small = fused(1).await;
        assert_eq!(ids(&small)[..3], ["a", "y1", "b"]);
        let large = fused(60).await;
        assert_eq!(ids(&large)[..3], ["b", "a", "y1"]);
        assert!((f64::from(large[0].score) - 2.0 / 64.0).abs() < 1e-6);
    }
}
