//! `multihop: {"depth": D, "fanout": F}`: the generator (the query's provider) breaks the
//! question into at most F sub-questions; each is retrieved (with the question itself). For
//! each further hop up to D, the generator sees the best passages found so far and writes at
//! most F follow-up questions for what is still missing, which are retrieved in turn. All
//! lists are fused with reciprocal rank fusion, and the answer is written for the original
//! question from the fused sources; the sub-questions of every hop come back with it. A hop
//! that yields no new question ends the search early. The profile shows `multihop` (all
//! question writing; `multihop.hopH` per hop with its questions), `retrieve` (all retrieval)
//! and `retrieve.hopH.I` per query.

use crate::errors::GatewayError;
use crate::instruct::{instructed_text, question_lines};
use crate::pipeline::Pipeline;
use crate::profile::Profile;
use crate::query_rewrite::retrieve_all;
use crate::rank_fusion::{DEFAULT_RRF_K, fuse};
use crate::request_context::RequestContext;
use crate::responses::ExpansionReport;
use crate::validate::QueryPlan;
use ragmesh_proto::v1::{Context, ScoredChunk};
use std::time::{Duration, Instant};

/// Passages shown to the generator when it writes follow-up questions.
const PASSAGES_SHOWN: usize = 3;

fn decompose_instruction(fanout: u32) -> String {
    format!(
        "Break the user's question into at most {fanout} simpler questions that together \
         answer it. Write one question per line and nothing else."
    )
}

fn follow_up_instruction(fanout: u32) -> String {
    format!(
        "The contexts are what was found so far. Write at most {fanout} new questions whose \
         answers are still needed to answer the user's question. Write one question per line \
         and nothing else."
    )
}

/// The fused candidates of every hop, and the sub-questions per hop.
pub async fn search(
    pipeline: &Pipeline,
    plan: &QueryPlan,
    depth: u32,
    fanout: u32,
    ctx: &RequestContext,
    profile: &mut Profile,
) -> Result<(Vec<ScoredChunk>, ExpansionReport), GatewayError> {
    let rrf_k = plan.rrf_k.unwrap_or(DEFAULT_RRF_K);
    let mut known = vec![plan.query.clone()];
    let mut lists: Vec<Vec<ScoredChunk>> = Vec::new();
    let mut hops: Vec<Vec<String>> = Vec::new();
    let mut writing = Duration::ZERO;
    let mut retrieving = Duration::ZERO;
    for hop in 1..=depth {
        let started = Instant::now();
        let (instruction, contexts) = if hop == 1 {
            (decompose_instruction(fanout), Vec::new())
        } else {
            let best = fuse(lists.clone(), rrf_k);
            (follow_up_instruction(fanout), shown(&best))
        };
        let text =
            instructed_text(pipeline, plan, &instruction, &plan.query, contexts, ctx).await?;
        let questions = question_lines(&text, fanout as usize, &known);
        let took = started.elapsed();
        writing += took;
        profile.record_detail(format!("multihop.hop{hop}"), took, questions.join(" | "));
        if questions.is_empty() {
            break;
        }
        let mut queries = questions.clone();
        if hop == 1 {
            queries.insert(0, plan.query.clone());
        }
        let step = format!("retrieve.hop{hop}");
        let (found, elapsed) = retrieve_all(pipeline, plan, &queries, ctx, profile, &step).await?;
        retrieving += elapsed;
        lists.extend(found);
        known.extend(questions.iter().cloned());
        hops.push(questions);
    }
    if lists.is_empty() {
        // No sub-question at all: the question alone.
        let (found, elapsed) = retrieve_all(
            pipeline,
            plan,
            std::slice::from_ref(&plan.query),
            ctx,
            profile,
            "retrieve.hop0",
        )
        .await?;
        retrieving += elapsed;
        lists.extend(found);
    }
    profile.record_duration("multihop", writing);
    profile.record_duration("retrieve", retrieving);
    Ok((
        fuse(lists, rrf_k),
        ExpansionReport::Multihop {
            sub_questions: hops,
        },
    ))
}

/// The best passages so far, numbered for the generator.
fn shown(best: &[ScoredChunk]) -> Vec<Context> {
    best.iter()
        .take(PASSAGES_SHOWN)
        .enumerate()
        .map(|(i, chunk)| Context {
            index: i as u32 + 1,
            source: chunk.source.clone(),
            text: chunk.text.clone(),
        })
        .collect()
}
