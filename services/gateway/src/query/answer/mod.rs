//! Answers a user can trust (issue 15): which parts of the sources go into the prompt
//! ([`passages`]), how each answer sentence is checked against them and cited ([`grounding`]),
//! the answer made of source sentences without a model ([`extractive`]), and the text units
//! all three work on ([`sentences`]).
//!
//! Embeddings come from the retrieval service's `Embed` (the model that embeds the index):
//! one batched call for the candidate passages (with the question when the cache did not
//! already embed it), and one per answer — or, while streaming, per completed sentence — for
//! grounding.

pub mod completion;
pub mod extractive;
pub mod grounding;
pub mod passages;
pub mod sentences;

use crate::api::responses::{AnswerSentence, GroundingReport, PassageReport, Source};
use crate::backends::Backends;
use crate::error::GatewayError;
use crate::query::answer::grounding::{GroundPassage, GroundedSentence, Grounder, render_answer};
use crate::query::answer::passages::Candidate;
use crate::request_context::RequestContext;
use ragmesh_config::{AnswerMode, AnswerSettings};
use ragmesh_proto::v1::{Context, EmbedRequest};
use ragmesh_retrieval_client::ServiceError;

/// The candidates of one query and the passages chosen among them.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    pub candidates: Vec<Candidate>,
    /// Positions in `candidates`: in prompt order (generate) or answer order (extractive).
    pub chosen: Vec<usize>,
}

/// Who embeds texts for a query: the retrieval service, or nobody (term matching only —
/// unit tests of the logic around it).
#[derive(Clone)]
pub struct Embedder {
    calls: Option<(Backends, RequestContext)>,
}

impl Embedder {
    pub fn retrieval(backends: Backends, ctx: RequestContext) -> Embedder {
        Embedder {
            calls: Some((backends, ctx)),
        }
    }

    /// Term matching only.
    pub fn none() -> Embedder {
        Embedder { calls: None }
    }

    /// One vector per text, in order, in one call (empty vectors with [`Embedder::none`]).
    pub async fn embed(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>, GatewayError> {
        let Some((backends, ctx)) = &self.calls else {
            return Ok(vec![Vec::new(); texts.len()]);
        };
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let expected = texts.len();
        let response = backends.embed(EmbedRequest { texts }, ctx).await?;
        if response.vectors.len() != expected {
            return Err(ServiceError::BadAnswer {
                service: crate::backends::backend::Backend::Retrieval.name(),
                message: format!(
                    "asked to embed {expected} texts, got {} vectors",
                    response.vectors.len()
                ),
            }
            .into());
        }
        Ok(response.vectors.into_iter().map(|v| v.values).collect())
    }
}

/// Cuts `sources` into candidate passages, scores them against `query` (word match and, with
/// an embedder, embedding cosine to `query_vector` — embedded here when empty) and chooses
/// what the answer is made from: the passages for the prompt within the budget (generate), or
/// the best sentences (extractive).
pub async fn select(
    embedder: &Embedder,
    query: &str,
    query_vector: Vec<f32>,
    sources: &[Source],
    settings: &AnswerSettings,
    mode: AnswerMode,
) -> Result<Selection, GatewayError> {
    let mut candidates = passages::candidates(sources);
    passages::score_lexical(query, &mut candidates);
    let mut candidates = passages::prefilter(candidates);
    if candidates.is_empty() {
        return Ok(Selection::default());
    }
    let embed_query = query_vector.is_empty();
    let mut texts: Vec<String> = Vec::with_capacity(candidates.len() + 1);
    if embed_query {
        texts.push(query.to_string());
    }
    texts.extend(candidates.iter().map(|c| c.text.clone()));
    let mut vectors = embedder.embed(texts).await?.into_iter();
    let query_vector = if embed_query {
        vectors.next().unwrap_or_default()
    } else {
        query_vector
    };
    for (c, v) in candidates.iter_mut().zip(vectors) {
        c.vector = v;
    }
    passages::combine_scores(&mut candidates, &query_vector);
    let chosen = match mode {
        AnswerMode::Generate => passages::pack(&candidates, settings.passage_budget_tokens),
        AnswerMode::Extractive => {
            extractive::best_sentences(&candidates, settings.extractive_sentences)
        }
    };
    Ok(Selection { candidates, chosen })
}

impl Selection {
    /// The prompt's contexts (generate mode).
    pub fn contexts(&self, sources: &[Source]) -> Vec<Context> {
        passages::contexts(&self.candidates, &self.chosen, sources)
    }

    pub fn reports(&self) -> Vec<PassageReport> {
        passages::reports(&self.candidates, &self.chosen)
    }

    /// A grounder over the chosen passages.
    pub fn grounder(&self, settings: &AnswerSettings) -> Grounder {
        let passages = self
            .chosen
            .iter()
            .map(|&i| {
                let c = &self.candidates[i];
                GroundPassage {
                    index: c.index,
                    terms: c.terms.iter().cloned().collect(),
                    vector: c.vector.clone(),
                }
            })
            .collect();
        Grounder::new(passages, settings.support_threshold, settings.unsupported)
    }

    /// The extractive answer: the chosen sentences, best first, each grounded in its own
    /// passage (so cited by its source number).
    pub fn extractive_answer(&self, settings: &AnswerSettings) -> GroundedAnswer {
        let grounder = self.grounder(settings);
        let mut answer = GroundedAnswer::new(grounder);
        for &i in &self.chosen {
            let c = &self.candidates[i];
            let grounded = answer.grounder.ground(&c.text, &c.vector);
            answer.pieces.push(Piece {
                separator: " ".into(),
                raw: c.text.clone(),
                vector: c.vector.clone(),
                grounded,
            });
        }
        answer
    }
}

/// The sentences of `raw` after byte `consumed` that are complete (all when `finished`: the
/// last one may otherwise still grow), each with the text before it; moves `consumed` past them.
fn completed_sentences(raw: &str, consumed: &mut usize, finished: bool) -> Vec<(String, String)> {
    let base = *consumed;
    let rest = raw.get(base..).unwrap_or("");
    let mut spans = sentences::sentence_spans(rest);
    if !finished {
        spans.pop();
    }
    let mut found = Vec::with_capacity(spans.len());
    let mut previous_end = base;
    for span in spans {
        let (start, end) = (base + span.start, base + span.end);
        found.push((
            raw[previous_end..start].to_string(),
            raw[start..end].to_string(),
        ));
        previous_end = end;
    }
    *consumed = previous_end;
    found
}

/// For each sentence of the answer made of `tokens`, how many tokens a stream had sent when
/// it sent that sentence's event: what a replay needs to send the events in the same order.
pub fn sentence_positions(tokens: &[String]) -> Vec<usize> {
    let mut raw = String::new();
    let mut consumed = 0;
    let mut positions = Vec::new();
    for (i, token) in tokens.iter().enumerate() {
        raw.push_str(token);
        let done = completed_sentences(&raw, &mut consumed, false).len();
        positions.extend(std::iter::repeat_n(i + 1, done));
    }
    let rest = completed_sentences(&raw, &mut consumed, true).len();
    positions.extend(std::iter::repeat_n(tokens.len(), rest));
    positions
}

/// One answer sentence as the model wrote it and as grounded.
#[derive(Debug, Clone)]
pub struct Piece {
    /// The text between the previous sentence and this one.
    pub separator: String,
    pub raw: String,
    pub vector: Vec<f32>,
    pub grounded: GroundedSentence,
}

/// An answer grounded sentence by sentence as its text grows (streaming) or at once.
#[derive(Debug, Clone)]
pub struct GroundedAnswer {
    grounder: Grounder,
    pieces: Vec<Piece>,
    /// Bytes of the raw answer already split into grounded sentences.
    consumed: usize,
}

/// What the response carries about the answer.
#[derive(Debug, Clone, PartialEq)]
pub struct AnswerReport {
    pub answer: String,
    pub sentences: Vec<AnswerSentence>,
    pub grounding: GroundingReport,
}

impl GroundedAnswer {
    pub fn new(grounder: Grounder) -> GroundedAnswer {
        GroundedAnswer {
            grounder,
            pieces: Vec::new(),
            consumed: 0,
        }
    }

    /// Grounds the sentences of `raw` (the answer so far) completed since the last call — all
    /// of them when `finished` — embedding them in one call; returns the new ones.
    pub async fn advance(
        &mut self,
        raw: &str,
        finished: bool,
        embedder: &Embedder,
    ) -> Result<Vec<AnswerSentence>, GatewayError> {
        let found = completed_sentences(raw, &mut self.consumed, finished);
        if found.is_empty() {
            return Ok(Vec::new());
        }
        let texts: Vec<String> = found
            .iter()
            .map(|(_, s)| sentences::strip_markers(s).0)
            .map(|t| {
                if t.trim().is_empty() {
                    "-".to_string()
                } else {
                    t
                }
            })
            .collect();
        let vectors = if self.grounder.uses_vectors() {
            embedder.embed(texts).await?
        } else {
            vec![Vec::new(); found.len()]
        };
        let mut new = Vec::with_capacity(found.len());
        for ((separator, raw), vector) in found.into_iter().zip(vectors) {
            let grounded = self.grounder.ground(&raw, &vector);
            new.push(grounded.sentence.clone());
            self.pieces.push(Piece {
                separator,
                raw,
                vector,
                grounded,
            });
        }
        Ok(new)
    }

    /// Grounds every sentence again against the passages of `sent` only, when the generator
    /// left some passages out of the prompt.
    pub fn restrict_to(&mut self, sent: &[u32]) {
        let before = self.grounder.clone();
        self.grounder.restrict_to(sent);
        if before.passage_count() == self.grounder.passage_count() {
            return;
        }
        for piece in &mut self.pieces {
            piece.grounded = self.grounder.ground(&piece.raw, &piece.vector);
        }
    }

    /// The sentences grounded so far, in order.
    pub fn sentences(&self) -> Vec<&AnswerSentence> {
        self.pieces.iter().map(|p| &p.grounded.sentence).collect()
    }

    /// The answer text, its sentences and the summary.
    pub fn report(&self) -> AnswerReport {
        let grounded: Vec<GroundedSentence> =
            self.pieces.iter().map(|p| p.grounded.clone()).collect();
        let pieces: Vec<(String, GroundedSentence)> = self
            .pieces
            .iter()
            .map(|p| (p.separator.clone(), p.grounded.clone()))
            .collect();
        AnswerReport {
            answer: render_answer(&pieces),
            sentences: grounded.iter().map(|g| g.sentence.clone()).collect(),
            grounding: self.grounder.report(&grounded),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::query::answer::passages::tests::sources;

    fn settings() -> AnswerSettings {
        AnswerSettings::default()
    }

    #[tokio::test]
    async fn streamed_sentences_are_grounded_once_each_as_they_complete() {
        let question = "How often should a sourdough starter be fed at room temperature?";
        let selection = select(
            &Embedder::none(),
            question,
            Vec::new(),
            &sources(),
            &settings(),
            AnswerMode::Generate,
        )
        .await
        .unwrap();
        assert!(!selection.chosen.is_empty());
        let mut answer = GroundedAnswer::new(selection.grounder(&settings()));
        let none = Embedder::none();
        let mut raw = String::new();
        let mut streamed = Vec::new();
        for token in [
            "Bakers feed a starter",
            " every twelve hours at room temperature [3].",
            " Paris",
            " is lovely",
            ".",
        ] {
            raw.push_str(token);
            streamed.extend(answer.advance(&raw, false, &none).await.unwrap());
        }
        assert_eq!(
            streamed.len(),
            1,
            "only the first sentence is complete: {streamed:?}"
        );
        streamed.extend(answer.advance(&raw, true, &none).await.unwrap());
        assert_eq!(streamed.len(), 2);
        let report = answer.report();
        assert_eq!(report.sentences, streamed);
        let tokens: Vec<String> = [
            "Bakers feed a starter",
            " every twelve hours at room temperature [3].",
            " Paris",
            " is lovely",
            ".",
        ]
        .iter()
        .map(|t| t.to_string())
        .collect();
        assert_eq!(sentence_positions(&tokens), [3, 5]);
        assert_eq!(
            report.answer,
            "Bakers feed a starter every twelve hours at room temperature [2]. Paris is lovely."
        );
        assert_eq!(report.grounding.citations_corrected, 1);
        assert_eq!(report.grounding.unsupported, 1);
    }

    #[tokio::test]
    async fn an_extractive_answer_cites_the_sources_of_its_sentences() {
        let selection = select(
            &Embedder::none(),
            "Which chess opening begins with e4 c5?",
            Vec::new(),
            &sources(),
            &settings(),
            AnswerMode::Extractive,
        )
        .await
        .unwrap();
        let report = selection.extractive_answer(&settings()).report();
        assert!(
            report
                .answer
                .starts_with("The Sicilian Defence begins with the moves e4 c5 [3]."),
            "{}",
            report.answer
        );
        assert!(
            report
                .sentences
                .iter()
                .all(|s| s.supported && !s.citations.is_empty())
        );
        assert!(report.sentences.len() <= 3);
    }
}
