//! Answer metrics computed by the harness itself, with the usual definitions so the numbers
//! compare with published ones:
//!
//! - ROUGE-L F1: longest common subsequence of lower-cased alphanumeric tokens (the tokenizer
//!   of Google's `rouge-score` without stemming), F = 2PR / (P + R).
//! - token F1: SQuAD's — lower case, punctuation and the articles a/an/the removed, multiset
//!   overlap of the remaining words.
//! - degenerate answer: a word 4-gram three times or more (the loop the issue shows), or a span
//!   of [`LONG_SPAN`] words repeated.
//! - word-overlap support: the share of a sentence's distinct content words found in one
//!   passage; a sentence is supported at [`OVERLAP_SUPPORTED`] or more. A coarse check, used
//!   and labelled as such when the gateway reports no `grounding` of its own.

use super::text::{content_words, strip_citations, words};
use std::collections::HashMap;

/// A span this long (in words) seen twice makes an answer degenerate.
pub const LONG_SPAN: usize = 10;
/// Word-overlap support at or above which a sentence counts as supported by a passage.
pub const OVERLAP_SUPPORTED: f64 = 0.6;

/// ROUGE-L F1 of `candidate` against `reference` (citation markers removed); 0 when either
/// has no word.
pub fn rouge_l_f(candidate: &str, reference: &str) -> f64 {
    let c = words(&strip_citations(candidate));
    let r = words(reference);
    let lcs = lcs_len(&c, &r);
    if lcs == 0 {
        return 0.0;
    }
    let precision = lcs as f64 / c.len() as f64;
    let recall = lcs as f64 / r.len() as f64;
    2.0 * precision * recall / (precision + recall)
}

fn lcs_len(a: &[String], b: &[String]) -> usize {
    let mut previous = vec![0usize; b.len() + 1];
    let mut current = vec![0usize; b.len() + 1];
    for x in a {
        for (j, y) in b.iter().enumerate() {
            current[j + 1] = if x == y {
                previous[j] + 1
            } else {
                current[j].max(previous[j + 1])
            };
        }
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

/// SQuAD's answer normalisation: lower case, no punctuation, no articles.
fn squad_tokens(text: &str) -> Vec<String> {
    let lowered = text.to_lowercase();
    let no_punctuation: String = lowered
        .chars()
        .filter(|c| !c.is_ascii_punctuation())
        .collect();
    no_punctuation
        .split_whitespace()
        .filter(|w| !matches!(*w, "a" | "an" | "the"))
        .map(str::to_string)
        .collect()
}

/// SQuAD token F1 of `candidate` (citation markers removed) against `reference`.
pub fn token_f1(candidate: &str, reference: &str) -> f64 {
    let c = squad_tokens(&strip_citations(candidate));
    let r = squad_tokens(reference);
    let mut counts: HashMap<&str, i64> = HashMap::new();
    for w in &r {
        *counts.entry(w).or_default() += 1;
    }
    let mut common = 0;
    for w in &c {
        if let Some(n) = counts.get_mut(w.as_str()).filter(|n| **n > 0) {
            *n -= 1;
            common += 1;
        }
    }
    if common == 0 {
        return 0.0;
    }
    let precision = common as f64 / c.len() as f64;
    let recall = common as f64 / r.len() as f64;
    2.0 * precision * recall / (precision + recall)
}

/// Why an answer is degenerate, or None: a word 4-gram occurring three or more times, or a
/// [`LONG_SPAN`]-word span occurring twice without overlapping itself.
pub fn degenerate(answer: &str) -> Option<String> {
    let w = words(&strip_citations(answer));
    let mut fours: HashMap<&[String], usize> = HashMap::new();
    for gram in w.windows(4) {
        let n = fours.entry(gram).or_default();
        *n += 1;
        if *n == 3 {
            return Some(format!("4-gram \"{}\" 3+ times", gram.join(" ")));
        }
    }
    let mut first_seen: HashMap<&[String], usize> = HashMap::new();
    for (i, span) in w.windows(LONG_SPAN).enumerate() {
        match first_seen.get(span) {
            Some(&first) if i >= first + LONG_SPAN => {
                return Some(format!(
                    "{LONG_SPAN}-word span \"{}\" repeated",
                    span.join(" ")
                ));
            }
            Some(_) => {}
            None => {
                first_seen.insert(span, i);
            }
        }
    }
    None
}

/// Word-overlap support of `sentence` by `passage`: the share of the sentence's distinct
/// content words that occur in the passage; None when the sentence has no content word.
pub fn overlap_support(sentence: &str, passage: &str) -> Option<f64> {
    let s = content_words(sentence);
    if s.is_empty() {
        return None;
    }
    let p: std::collections::HashSet<String> = words(passage).into_iter().collect();
    Some(s.iter().filter(|w| p.contains(*w)).count() as f64 / s.len() as f64)
}

/// Nearest-rank percentile `q` (0..=1) of `samples`: a value observed. None when empty.
pub fn percentile(samples: &[f64], q: f64) -> Option<f64> {
    if samples.is_empty() {
        return None;
    }
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = (q * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn rouge_l_is_the_f1_of_the_longest_common_subsequence() {
        // rouge-score's example: LCS("the cat was found under the bed",
        // "the cat was under the bed") = 6; P = 6/7, R = 6/6.
        let got = rouge_l_f(
            "The cat was found under the bed [1].",
            "the cat was under the bed",
        );
        let (p, r) = (6.0 / 7.0, 1.0);
        assert!(close(got, 2.0 * p * r / (p + r)), "{got}");
        // Order matters (a subsequence, not a bag): reversed words share an LCS of 1.
        let got = rouge_l_f("c b a", "a b c");
        assert!(close(got, 1.0 / 3.0), "{got}");
        assert_eq!(rouge_l_f("", "a b"), 0.0);
        assert_eq!(rouge_l_f("x y", "a b"), 0.0);
        assert!(close(rouge_l_f("A, b; c.", "a b c"), 1.0));
    }

    #[test]
    fn token_f1_follows_squad_normalisation_and_counts_repeats_once_each() {
        assert!(close(token_f1("The CRP level.", "crp level"), 1.0));
        // Candidate "crp crp level": common = min counts = crp 1 + level 1 = 2; P 2/3, R 1.
        let got = token_f1("crp crp level", "crp level");
        assert!(close(got, 2.0 * (2.0 / 3.0) / (2.0 / 3.0 + 1.0)), "{got}");
        assert_eq!(token_f1("nothing shared", "crp level"), 0.0);
        assert_eq!(token_f1("[1]", "crp"), 0.0);
    }

    #[test]
    fn loops_are_degenerate_and_ordinary_answers_are_not() {
        let looping = "It is a hybrid fusion with hybrid; it is a hybrid fusion with hybrid; \
                       it is a hybrid fusion with hybrid.";
        let why = degenerate(looping).unwrap();
        assert!(why.contains("it is a hybrid"), "{why}");
        // Twice is not a loop for 4-grams ...
        assert_eq!(
            degenerate("The results were good [1]. The results were good in the elderly [2]."),
            None
        );
        // ... but a long span repeated is.
        let twice = "one two three four five six seven eight nine ten. \
                     one two three four five six seven eight nine ten.";
        assert!(degenerate(twice).unwrap().contains("10-word span"));
        // A run of one word overlaps itself: "a a a a a a" has the 4-gram "a a a a" three times.
        assert!(degenerate("a a a a a a").is_some());
        assert_eq!(
            degenerate("CRP and leukocyte counts help exclude appendicitis."),
            None
        );
    }

    #[test]
    fn overlap_support_counts_content_words_found_in_the_passage() {
        let passage = "Elevated CRP values were found in 80% of elderly patients.";
        assert_eq!(
            overlap_support("CRP was elevated in elderly patients [1].", passage),
            Some(1.0)
        );
        // crp, paris, capital, france: one of four.
        assert_eq!(
            overlap_support("The CRP of Paris is the capital of France.", passage),
            Some(0.25)
        );
        assert_eq!(overlap_support("It is [2].", passage), None);
    }

    #[test]
    fn percentiles_are_observed_values() {
        let samples: Vec<f64> = (1..=20).map(f64::from).collect();
        assert_eq!(percentile(&samples, 0.5), Some(10.0));
        assert_eq!(percentile(&samples, 0.95), Some(19.0));
        assert_eq!(percentile(&[7.0], 0.5), Some(7.0));
        assert_eq!(percentile(&[], 0.5), None);
    }
}
