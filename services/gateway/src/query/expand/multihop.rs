//! `multihop: {"depth": D, "fanout": F}`: the generator (the query's provider) breaks the
//! question into at most F sub-questions; each is retrieved (with the question itself). For
//! each further hop up to D, the generator sees the best passages found so far and writes at
//! most F follow-up questions for what is still missing, which are retrieved in turn. All
//! lists are fused with reciprocal rank fusion, and the answer is written for the original
//! question from the fused sources; the sub-questions of every hop come back with it. A hop
//! that yields no new question ends the search early. The profile shows `multihop` (all
//! question writing; `multihop.hopH` per hop with its questions), `retrieve` (all retrieval)
//! and `retrieve.hopH.I` per query.

use crate::api::responses::ExpansionReport;
use crate::error::GatewayError;
use crate::query::expand::questions::question_lines;
use crate::query::expand::{ExpansionCalls, fuse, retrieve_all};
use crate::query::profile::Profile;
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

/// The fused candidates of every hop for `question` (lists fused with RRF constant `rrf_k`),
/// and the sub-questions per hop.
pub async fn search(
    calls: &impl ExpansionCalls,
    question: &str,
    (depth, fanout): (u32, u32),
    rrf_k: u32,
    profile: &mut Profile,
) -> Result<(Vec<ScoredChunk>, ExpansionReport), GatewayError> {
    let mut known = vec![question.to_string()];
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
        let text = calls
            .instructed_text(&instruction, question, contexts)
            .await?;
        let questions = question_lines(&text, fanout as usize, &known);
        let took = started.elapsed();
        writing += took;
        profile.record_detail(format!("multihop.hop{hop}"), took, questions.join(" | "));
        if questions.is_empty() {
            break;
        }
        let mut queries = questions.clone();
        if hop == 1 {
            queries.insert(0, question.to_string());
        }
        let step = format!("retrieve.hop{hop}");
        let (found, elapsed) = retrieve_all(calls, &queries, profile, &step).await?;
        retrieving += elapsed;
        lists.extend(found);
        known.extend(questions.iter().cloned());
        hops.push(questions);
    }
    if lists.is_empty() {
        // No sub-question at all: the question alone.
        let (found, elapsed) =
            retrieve_all(calls, &[question.to_string()], profile, "retrieve.hop0").await?;
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
