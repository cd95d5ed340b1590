//! Passage selection: the top-k chunks cut into sentences (long ones into word windows),
//! each scored against the question — BM25 over the candidates (stemmed terms) normalised to
//! 0..1, averaged with the cosine of its embedding to the question's — and the best packed into
//! the `[answer] passage_budget_tokens` budget. The prompt then carries a few hundred tokens of
//! the most relevant text instead of every chunk whole; each passage keeps its source number
//! `[n]`, and passages go to the model grouped by source, in document order within a source.

use crate::api::responses::{PassageReport, Source};
use crate::query::answer::sentences::{estimate_tokens, sentence_spans, terms};
use ragmesh_proto::v1::Context;
use std::collections::{HashMap, HashSet};

/// A sentence longer than this (estimated tokens) is cut into windows.
pub const MAX_UNIT_TOKENS: usize = 60;
/// Words per window of a cut sentence.
const WINDOW_WORDS: usize = 30;
/// Units with fewer words (headings, list bullets) are not passages.
const MIN_UNIT_WORDS: usize = 4;
/// Most candidates embedded per query (the best by word match when there are more).
pub const MAX_EMBEDDED: usize = 64;
/// Candidates scoring below this share of the best one are not sent: weak passages cost
/// prefill time and give a small model something to wander off with.
const RELATIVE_CUTOFF: f32 = 0.4;
/// Weight of the word match in a candidate's score (the rest is the embedding cosine).
const LEXICAL_WEIGHT: f32 = 0.5;
/// BM25 constants.
const K1: f32 = 1.2;
const B: f32 = 0.75;

/// One sentence (or window) of one source chunk.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// The source number (`[index]`).
    pub index: usize,
    /// Position within its chunk (document order).
    pub order: usize,
    pub text: String,
    pub terms: Vec<String>,
    /// Estimated prompt tokens.
    pub tokens: usize,
    /// BM25 against the question, normalised so the best candidate has 1.
    pub lexical: f32,
    /// Its embedding (empty when not embedded).
    pub vector: Vec<f32>,
    /// Relevance to the question, 0..1.
    pub score: f32,
}

/// Every candidate of `sources`, in source then document order.
pub fn candidates(sources: &[Source]) -> Vec<Candidate> {
    let mut out = Vec::new();
    for source in sources {
        let mut order = 0;
        for span in sentence_spans(&source.text) {
            let sentence = source.text[span]
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ");
            for piece in windows(&sentence) {
                if piece.split_whitespace().count() < MIN_UNIT_WORDS {
                    continue;
                }
                out.push(Candidate {
                    index: source.index,
                    order,
                    terms: terms(&piece),
                    tokens: estimate_tokens(&piece),
                    text: piece,
                    lexical: 0.0,
                    vector: Vec::new(),
                    score: 0.0,
                });
                order += 1;
            }
        }
    }
    out
}

/// `sentence` whole, or cut into windows of [`WINDOW_WORDS`] words when it is too long.
fn windows(sentence: &str) -> Vec<String> {
    if estimate_tokens(sentence) <= MAX_UNIT_TOKENS {
        return vec![sentence.to_string()];
    }
    let words: Vec<&str> = sentence.split_whitespace().collect();
    let mut out = Vec::new();
    let mut current: Vec<&str> = Vec::new();
    for word in words {
        current.push(word);
        let text = current.join(" ");
        if current.len() >= WINDOW_WORDS || estimate_tokens(&text) > MAX_UNIT_TOKENS - 8 {
            out.push(text);
            current.clear();
        }
    }
    if !current.is_empty() {
        out.push(current.join(" "));
    }
    out
}

/// Sets each candidate's `lexical` score: BM25 of `query` over the candidates as the
/// collection, divided by the best (all 0 when nothing matches).
pub fn score_lexical(query: &str, candidates: &mut [Candidate]) {
    let query: HashSet<String> = terms(query).into_iter().collect();
    let n = candidates.len() as f32;
    if candidates.is_empty() || query.is_empty() {
        return;
    }
    let mut df: HashMap<&str, f32> = HashMap::new();
    for c in candidates.iter() {
        let unique: HashSet<&str> = c.terms.iter().map(String::as_str).collect();
        for t in unique {
            if query.contains(t) {
                *df.entry(t).or_default() += 1.0;
            }
        }
    }
    let avg_len = candidates.iter().map(|c| c.terms.len()).sum::<usize>() as f32 / n;
    let scores: Vec<f32> = candidates
        .iter()
        .map(|c| {
            let len = c.terms.len() as f32;
            df.iter()
                .map(|(term, &df)| {
                    let tf = c.terms.iter().filter(|t| t.as_str() == *term).count() as f32;
                    let idf = (1.0 + (n - df + 0.5) / (df + 0.5)).ln();
                    idf * tf * (K1 + 1.0) / (tf + K1 * (1.0 - B + B * len / avg_len.max(1.0)))
                })
                .sum()
        })
        .collect();
    let best = scores.iter().copied().fold(0.0_f32, f32::max);
    for (c, s) in candidates.iter_mut().zip(scores) {
        c.lexical = if best > 0.0 { s / best } else { 0.0 };
    }
}

/// The best [`MAX_EMBEDDED`] candidates by word match (higher-ranked sources first among
/// equals), kept in source and document order.
pub fn prefilter(candidates: Vec<Candidate>) -> Vec<Candidate> {
    if candidates.len() <= MAX_EMBEDDED {
        return candidates;
    }
    let mut ranked: Vec<usize> = (0..candidates.len()).collect();
    ranked.sort_by(|&a, &b| {
        candidates[b]
            .lexical
            .total_cmp(&candidates[a].lexical)
            .then(candidates[a].index.cmp(&candidates[b].index))
    });
    let keep: HashSet<usize> = ranked.into_iter().take(MAX_EMBEDDED).collect();
    candidates
        .into_iter()
        .enumerate()
        .filter(|(i, _)| keep.contains(i))
        .map(|(_, c)| c)
        .collect()
}

/// Cosine similarity (0 when either vector is empty or zero).
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    if a.is_empty() || a.len() != b.len() {
        return 0.0;
    }
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    if na == 0.0 || nb == 0.0 {
        0.0
    } else {
        dot / (na * nb)
    }
}

/// Sets each candidate's `score` from its word match and, when both are known, the cosine of
/// its embedding to `query_vector`.
pub fn combine_scores(candidates: &mut [Candidate], query_vector: &[f32]) {
    for c in candidates {
        c.score = if c.vector.is_empty() || query_vector.is_empty() {
            c.lexical
        } else {
            LEXICAL_WEIGHT * c.lexical
                + (1.0 - LEXICAL_WEIGHT) * cosine(&c.vector, query_vector).max(0.0)
        };
    }
}

/// Positions (in `candidates`) of the passages to send: best first while they fit in
/// `budget` estimated tokens (one that does not fit is skipped for smaller ones), none below
/// [`RELATIVE_CUTOFF`] of the best; returned in source then document order.
pub fn pack(candidates: &[Candidate], budget: usize) -> Vec<usize> {
    let mut ranked: Vec<usize> = (0..candidates.len()).collect();
    ranked.sort_by(|&a, &b| {
        candidates[b]
            .score
            .total_cmp(&candidates[a].score)
            .then(candidates[a].index.cmp(&candidates[b].index))
            .then(candidates[a].order.cmp(&candidates[b].order))
    });
    let best = ranked.first().map_or(0.0, |&i| candidates[i].score);
    let mut used = 0;
    let mut chosen = Vec::new();
    for i in ranked {
        let c = &candidates[i];
        if !chosen.is_empty() && c.score < best * RELATIVE_CUTOFF {
            break;
        }
        if used + c.tokens <= budget {
            used += c.tokens;
            chosen.push(i);
        }
    }
    in_document_order(candidates, chosen)
}

/// `chosen` sorted by source number, then position in the chunk.
pub fn in_document_order(candidates: &[Candidate], mut chosen: Vec<usize>) -> Vec<usize> {
    chosen.sort_by_key(|&i| (candidates[i].index, candidates[i].order));
    chosen
}

/// The prompt's contexts: one per source with chosen passages, its passages in document
/// order (adjacent ones joined by a space, others by " … "), sources in rank order.
pub fn contexts(candidates: &[Candidate], chosen: &[usize], sources: &[Source]) -> Vec<Context> {
    let mut out: Vec<Context> = Vec::new();
    let mut last: Option<(usize, usize)> = None;
    for &i in chosen {
        let c = &candidates[i];
        match (out.last_mut(), last) {
            (Some(context), Some((index, order))) if index == c.index => {
                context
                    .text
                    .push_str(if c.order == order + 1 { " " } else { " … " });
                context.text.push_str(&c.text);
            }
            _ => out.push(Context {
                index: c.index as u32,
                source: sources
                    .iter()
                    .find(|s| s.index == c.index)
                    .map(|s| s.source.clone())
                    .unwrap_or_default(),
                text: c.text.clone(),
            }),
        }
        last = Some((c.index, c.order));
    }
    out
}

/// The chosen passages as the response lists them.
pub fn reports(candidates: &[Candidate], chosen: &[usize]) -> Vec<PassageReport> {
    chosen
        .iter()
        .map(|&i| PassageReport {
            index: candidates[i].index,
            text: candidates[i].text.clone(),
            score: candidates[i].score,
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) mod tests {
    use super::*;

    pub fn source(index: usize, text: &str) -> Source {
        Source {
            index,
            source: format!("doc{index}.md"),
            chunk: 0,
            text: text.into(),
            score: 0.5,
            rerank_score: None,
            vector_score: None,
            bm25_score: None,
            collection: "default".into(),
            metadata: Default::default(),
        }
    }

    pub fn sources() -> Vec<Source> {
        vec![
            source(
                1,
                "Kilauea is a shield volcano on the island of Hawaii. Its summit crater held a \
                 lava lake for years. Tourists visit the national park every day.",
            ),
            source(
                2,
                "A sourdough starter is a fermented mixture of flour and water. Bakers feed a \
                 starter every twelve hours at room temperature. A healthy starter doubles in \
                 volume within six hours of a feeding.",
            ),
            source(
                3,
                "The Sicilian Defence begins with the moves e4 c5. It is the most popular \
                 reply to e4 among strong players.",
            ),
        ]
    }

    fn scored(query: &str) -> Vec<Candidate> {
        let mut c = candidates(&sources());
        score_lexical(query, &mut c);
        combine_scores(&mut c, &[]);
        c
    }

    #[test]
    fn chunks_become_sentences_with_their_source_number_in_document_order() {
        let c = candidates(&sources());
        let order: Vec<(usize, usize)> = c.iter().map(|c| (c.index, c.order)).collect();
        assert_eq!(
            order,
            [
                (1, 0),
                (1, 1),
                (1, 2),
                (2, 0),
                (2, 1),
                (2, 2),
                (3, 0),
                (3, 1)
            ]
        );
        assert_eq!(
            c[4].text,
            "Bakers feed a starter every twelve hours at room temperature."
        );
        let long = source(9, &"word ".repeat(200));
        let windows = candidates(&[long]);
        assert!(windows.len() > 3);
        assert!(
            windows.iter().all(|w| w.tokens <= MAX_UNIT_TOKENS),
            "{windows:?}"
        );
    }

    #[test]
    fn the_budget_is_never_exceeded_and_the_best_passage_comes_first_in_the_score() {
        let query = "How often should a sourdough starter be fed at room temperature?";
        let c = scored(query);
        for budget in [5, 12, 20, 30, 64, 350, 10_000] {
            let chosen = pack(&c, budget);
            let used: usize = chosen.iter().map(|&i| c[i].tokens).sum();
            assert!(used <= budget, "budget {budget}: {used}");
            let mut sorted = chosen.clone();
            sorted.sort_by_key(|&i| (c[i].index, c[i].order));
            assert_eq!(chosen, sorted, "document order at budget {budget}");
        }
        let chosen = pack(&c, 20);
        assert_eq!(
            chosen
                .iter()
                .map(|&i| c[i].text.as_str())
                .collect::<Vec<_>>(),
            ["Bakers feed a starter every twelve hours at room temperature."]
        );
        assert!(pack(&c, 1).is_empty(), "nothing fits a budget of one token");
    }

    #[test]
    fn contexts_keep_source_numbers_and_join_passages_in_document_order() {
        let query = "sourdough starter feed volcano lava lake";
        let c = scored(query);
        let chosen = pack(&c, 10_000);
        let contexts = contexts(&c, &chosen, &sources());
        let indices: Vec<u32> = contexts.iter().map(|c| c.index).collect();
        assert_eq!(indices, [1, 2], "{contexts:?}");
        assert_eq!(contexts[1].source, "doc2.md");
        // Passages of one source appear in the order the document has them.
        let text = &contexts[1].text;
        let feed = text.find("Bakers feed").unwrap();
        let mixture = text.find("fermented mixture").unwrap();
        assert!(mixture < feed, "{text}");
        let reports = reports(&c, &chosen);
        assert!(reports.iter().all(|r| r.index == 1 || r.index == 2));
    }
}
