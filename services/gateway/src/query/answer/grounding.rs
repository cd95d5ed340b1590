//! Grounding: every answer sentence matched to the passages that were sent. A sentence's
//! support by a passage is, with embeddings, half the share of its terms the passage contains
//! and half the cosine of their embeddings (without embeddings, the term share alone). Its
//! support by a source is the best of that source's passages. Then:
//!
//! - a model-written `[n]` stays when source n supports the sentence (at the threshold and
//!   close to the best source); otherwise it is replaced by the best source when that one
//!   supports the sentence (corrected), or removed;
//! - a sentence without a marker gets the best source when it supports it (added);
//! - a sentence no source supports is unsupported: `answer.unsupported` says whether it stays
//!   without citations (`flag`), leaves the answer (`drop`) or stays as written (`keep`).
//!
//! A citation only ever names a passage that was sent.

use crate::api::responses::{AnswerSentence, GroundingReport};
use crate::query::answer::passages::cosine;
use crate::query::answer::sentences::{strip_markers, terms, with_markers};
use ragmesh_config::UnsupportedPolicy;
use std::collections::HashSet;

/// A kept model citation may trail the best source by at most this much support.
const KEEP_MARGIN: f32 = 0.15;
/// Weight of the term share in a sentence's support (the rest is the embedding cosine).
const LEXICAL_WEIGHT: f32 = 0.5;

/// One passage as grounding sees it.
#[derive(Debug, Clone)]
pub struct GroundPassage {
    pub index: usize,
    pub terms: HashSet<String>,
    /// Empty when not embedded.
    pub vector: Vec<f32>,
}

/// How citations of one sentence changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CitationCounts {
    pub kept: u32,
    pub corrected: u32,
    pub added: u32,
    pub removed: u32,
}

/// One grounded sentence: as reported, as written in the answer, and what changed.
#[derive(Debug, Clone, PartialEq)]
pub struct GroundedSentence {
    pub sentence: AnswerSentence,
    /// The sentence as it goes into `answer` (with its markers); None when dropped.
    pub rendered: Option<String>,
    pub counts: CitationCounts,
}

#[derive(Debug, Clone)]
pub struct Grounder {
    passages: Vec<GroundPassage>,
    pub threshold: f32,
    pub policy: UnsupportedPolicy,
}

impl Grounder {
    pub fn new(passages: Vec<GroundPassage>, threshold: f32, policy: UnsupportedPolicy) -> Self {
        Grounder {
            passages,
            threshold,
            policy,
        }
    }

    /// Keeps only passages of sources in `sent` (the generator may leave some out).
    pub fn restrict_to(&mut self, sent: &[u32]) {
        self.passages
            .retain(|p| sent.iter().any(|&s| s as usize == p.index));
    }

    pub fn passage_count(&self) -> usize {
        self.passages.len()
    }

    /// Whether every passage has an embedding (sentences must then be embedded too).
    pub fn uses_vectors(&self) -> bool {
        !self.passages.is_empty() && self.passages.iter().all(|p| !p.vector.is_empty())
    }

    /// Support of the sentence with `sentence_terms` (and `vector`) by each source, best
    /// first (ties: lower source number first).
    fn support_by_source(
        &self,
        sentence_terms: &HashSet<String>,
        vector: &[f32],
    ) -> Vec<(usize, f32)> {
        let mut by_source: Vec<(usize, f32)> = Vec::new();
        for p in &self.passages {
            let share = if sentence_terms.is_empty() {
                0.0
            } else {
                sentence_terms.intersection(&p.terms).count() as f32 / sentence_terms.len() as f32
            };
            let support = if vector.is_empty() || p.vector.is_empty() {
                share
            } else if sentence_terms.is_empty() {
                cosine(vector, &p.vector).max(0.0)
            } else {
                LEXICAL_WEIGHT * share + (1.0 - LEXICAL_WEIGHT) * cosine(vector, &p.vector).max(0.0)
            };
            match by_source.iter_mut().find(|(i, _)| *i == p.index) {
                Some((_, best)) => *best = best.max(support),
                None => by_source.push((p.index, support)),
            }
        }
        by_source.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        by_source
    }

    /// Grounds one answer sentence as the model wrote it (markers included); `vector` is its
    /// embedding (empty: term share only).
    pub fn ground(&self, raw: &str, vector: &[f32]) -> GroundedSentence {
        let (text, written) = strip_markers(raw);
        let sentence_terms: HashSet<String> = terms(&text).into_iter().collect();
        let by_source = self.support_by_source(&sentence_terms, vector);
        let support_of = |n: usize| by_source.iter().find(|(i, _)| *i == n).map(|(_, s)| *s);
        let (best_index, best) = by_source.first().copied().unwrap_or((0, 0.0));
        let supported = best >= self.threshold && best_index > 0;
        let mut counts = CitationCounts::default();
        let mut citations = Vec::new();
        let mut rejected = 0;
        let mut rejected_sent = Vec::new();
        for &n in &written {
            match support_of(n) {
                Some(s) if s >= self.threshold && s >= best - KEEP_MARGIN => {
                    counts.kept += 1;
                    citations.push(n);
                }
                Some(_) => {
                    rejected += 1;
                    rejected_sent.push(n);
                }
                // Not a passage that was sent.
                None => rejected += 1,
            }
        }
        let rendered;
        if supported {
            if citations.is_empty() {
                citations.push(best_index);
                if rejected > 0 {
                    counts.corrected += 1;
                    counts.removed += rejected - 1;
                } else {
                    counts.added += 1;
                }
            } else {
                counts.removed += rejected;
            }
            rendered = Some(with_markers(&text, &citations));
        } else {
            match self.policy {
                UnsupportedPolicy::Keep => {
                    counts.kept += rejected_sent.len() as u32;
                    counts.removed += rejected - rejected_sent.len() as u32;
                    citations.extend(rejected_sent);
                    rendered = Some(with_markers(&text, &citations));
                }
                UnsupportedPolicy::Flag | UnsupportedPolicy::Drop => {
                    counts.removed += rejected + counts.kept;
                    counts.kept = 0;
                    citations.clear();
                    rendered = (self.policy == UnsupportedPolicy::Flag).then(|| text.clone());
                }
            }
        }
        GroundedSentence {
            sentence: AnswerSentence {
                text,
                citations,
                support: best,
                supported,
            },
            rendered,
            counts,
        }
    }

    /// The summary of `sentences`.
    pub fn report(&self, sentences: &[GroundedSentence]) -> GroundingReport {
        let mut r = GroundingReport {
            threshold: self.threshold,
            unsupported_policy: self.policy.name().to_string(),
            ..GroundingReport::default()
        };
        for g in sentences {
            r.sentences += 1;
            if g.sentence.supported {
                r.supported += 1;
            } else {
                r.unsupported += 1;
            }
            if !g.sentence.citations.is_empty() {
                r.cited += 1;
            }
            r.citations_kept += g.counts.kept;
            r.citations_corrected += g.counts.corrected;
            r.citations_added += g.counts.added;
            r.citations_removed += g.counts.removed;
        }
        r
    }
}

/// The answer text from its grounded sentences, each after the separator that preceded it in
/// the model's text (a line break stays a line break); dropped sentences leave no gap.
pub fn render_answer(pieces: &[(String, GroundedSentence)]) -> String {
    let mut out = String::new();
    for (separator, g) in pieces {
        let Some(rendered) = &g.rendered else {
            continue;
        };
        if !out.is_empty() {
            out.push_str(if separator.contains('\n') { "\n" } else { " " });
        }
        out.push_str(rendered);
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::query::answer::passages::tests::sources;
    use crate::query::answer::passages::{candidates, in_document_order};

    /// Every sentence of the test sources as a sent passage (no embeddings: term share only).
    fn grounder(policy: UnsupportedPolicy) -> Grounder {
        let c = candidates(&sources());
        let all = in_document_order(&c, (0..c.len()).collect());
        let passages = all
            .iter()
            .map(|&i| GroundPassage {
                index: c[i].index,
                terms: c[i].terms.iter().cloned().collect(),
                vector: Vec::new(),
            })
            .collect();
        Grounder::new(passages, 0.45, policy)
    }

    #[test]
    fn a_sentence_copied_from_passage_2_gets_2() {
        let g = grounder(UnsupportedPolicy::Flag);
        let out = g.ground(
            "Bakers feed a starter every twelve hours at room temperature.",
            &[],
        );
        assert_eq!(out.sentence.citations, [2]);
        assert!(out.sentence.supported);
        assert!((out.sentence.support - 1.0).abs() < 1e-6);
        assert_eq!(
            out.rendered.as_deref(),
            Some("Bakers feed a starter every twelve hours at room temperature [2].")
        );
        assert_eq!(
            out.counts,
            CitationCounts {
                added: 1,
                ..CitationCounts::default()
            }
        );
    }

    #[test]
    fn a_wrong_citation_is_corrected_and_a_right_one_kept() {
        let g = grounder(UnsupportedPolicy::Flag);
        let out = g.ground("The Sicilian Defence begins with the moves e4 c5 [1].", &[]);
        assert_eq!(out.sentence.citations, [3]);
        assert_eq!(
            out.counts,
            CitationCounts {
                corrected: 1,
                ..CitationCounts::default()
            }
        );
        assert_eq!(
            out.rendered.as_deref(),
            Some("The Sicilian Defence begins with the moves e4 c5 [3].")
        );
        let out = g.ground("Kilauea had a lava lake in its summit crater [1].", &[]);
        assert_eq!(out.sentence.citations, [1]);
        assert_eq!(
            out.counts,
            CitationCounts {
                kept: 1,
                ..CitationCounts::default()
            }
        );
        // A number that was never sent goes, and the right source takes its place.
        let out = g.ground("Kilauea had a lava lake in its summit crater [7].", &[]);
        assert_eq!(out.sentence.citations, [1]);
        assert_eq!(out.counts.corrected, 1);
    }

    #[test]
    fn a_fabricated_sentence_is_flagged_dropped_or_kept_as_configured() {
        let fabricated = "Paris has been the capital of France since 2017 [2].";
        let out = grounder(UnsupportedPolicy::Flag).ground(fabricated, &[]);
        assert!(!out.sentence.supported);
        assert!(out.sentence.citations.is_empty(), "never a citation for it");
        assert_eq!(
            out.rendered.as_deref(),
            Some("Paris has been the capital of France since 2017.")
        );
        assert_eq!(out.counts.removed, 1);
        let out = grounder(UnsupportedPolicy::Drop).ground(fabricated, &[]);
        assert_eq!(out.rendered, None);
        let out = grounder(UnsupportedPolicy::Keep).ground(fabricated, &[]);
        assert_eq!(out.sentence.citations, [2]);
        assert!(!out.sentence.supported);

        let g = grounder(UnsupportedPolicy::Drop);
        let pieces: Vec<(String, GroundedSentence)> = [
            "Kilauea had a lava lake [1].",
            fabricated,
            "Bakers feed a starter every twelve hours.",
        ]
        .iter()
        .map(|s| (" ".to_string(), g.ground(s, &[])))
        .collect();
        assert_eq!(
            render_answer(&pieces),
            "Kilauea had a lava lake [1]. Bakers feed a starter every twelve hours [2]."
        );
        let report = g.report(&pieces.into_iter().map(|(_, s)| s).collect::<Vec<_>>());
        assert_eq!(
            (
                report.sentences,
                report.supported,
                report.unsupported,
                report.cited
            ),
            (3, 2, 1, 2)
        );
        assert_eq!(
            (
                report.citations_kept,
                report.citations_added,
                report.citations_removed
            ),
            (1, 1, 1)
        );
        assert_eq!(report.unsupported_policy, "drop");
    }

    #[test]
    fn only_sent_sources_can_be_cited() {
        let mut g = grounder(UnsupportedPolicy::Flag);
        g.restrict_to(&[1, 3]);
        let out = g.ground(
            "Bakers feed a starter every twelve hours at room temperature [2].",
            &[],
        );
        assert!(
            out.sentence.citations.iter().all(|n| *n == 1 || *n == 3),
            "{out:?}"
        );
        assert!(!out.sentence.supported);
    }
}
