//! The last step of a query: the response from what the answer step produced (the grounded
//! answer, its sentences and passages), the sources, the generator's report and the profile.

use crate::api::responses::{PassageReport, QueryResponse};
use crate::query::answer::AnswerReport;
use crate::query::answer_stream::GenerationSummary;
use crate::query::citations::{clean_citations, clean_citations_sent};
use crate::query::pipeline::Found;
use crate::query::profile::Profile;
use crate::request_context::RequestContext;
use ragmesh_config::{AnswerMode, AnswerSettings};
use std::time::Duration;

/// What the answer step produced.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    pub mode: AnswerMode,
    pub report: AnswerReport,
    pub passages: Vec<PassageReport>,
}

impl Completion {
    /// A fixed answer (nothing found): no sentences to ground, no passages.
    pub fn fixed(text: &str, mode: AnswerMode, settings: &AnswerSettings) -> Completion {
        Completion {
            mode,
            report: AnswerReport {
                answer: text.to_string(),
                sentences: Vec::new(),
                grounding: crate::api::responses::GroundingReport {
                    threshold: settings.support_threshold,
                    unsupported_policy: settings.unsupported.name().to_string(),
                    ..Default::default()
                },
            },
            passages: Vec::new(),
        }
    }
}

/// The final response (its profile is for the caller to record in the window).
pub fn complete(
    completion: Completion,
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
        profile.detail_last(format!(
            "{} prompt tokens, {} generated",
            summary.info.prompt_tokens, summary.info.generated_tokens
        ));
    }
    let report = profile.report();
    // Grounding only writes citations of passages that were sent; this keeps it so whatever
    // the policy (`keep` leaves the model's own markers of sent passages).
    let answer = match &generation {
        Some(summary) => {
            clean_citations_sent(completion.report.answer.trim(), &summary.info.contexts_sent)
        }
        None => clean_citations(completion.report.answer.trim(), found.sources.len()),
    };
    QueryResponse {
        answer,
        answer_mode: completion.mode.name().to_string(),
        sentences: completion.report.sentences,
        grounding: completion.report.grounding,
        passages: completion.passages,
        sources: found.sources,
        reranker: found.reranker,
        expansion: found.expansion,
        generation: generation.map(|g| g.info),
        cache: None,
        profile: report,
        trace_id: ctx.trace_id.clone(),
    }
}
