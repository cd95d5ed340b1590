//! Guards against degenerate answers from the embedded model, applied while decoding: small
//! models loop ("it is a hybrid fusion with hybrid" six times) and run on to the token cap,
//! stopping mid-sentence. Greedy decoding with the repeat penalty stays the selection rule;
//! these guards only (1) mask the token that would make an n-gram occur more often than allowed,
//! (2) end the answer after a number of sentences that fits a question, and (3) near the token
//! cap, end it at the first sentence end instead of cutting the next sentence in half.
//! Pure functions over logits and token text, so they are tested without a model.

use std::collections::HashSet;

/// Limits on what one answer may look like (from `[generation]`, see docs/configuration.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnswerGuards {
    /// Length of the n-grams watched for repetition (0 = no blocking).
    pub ngram_size: usize,
    /// How often one n-gram may occur in an answer; the token that would make it occur once
    /// more is masked.
    pub ngram_max_occurrences: usize,
    /// Sentences after which the answer ends (0 = no limit).
    pub max_sentences: usize,
    /// Within this many tokens of the token cap (at most a quarter of the cap), the answer
    /// ends at the first sentence end (0 = off: the cap cuts wherever it falls).
    pub sentence_stop_window: usize,
}

impl Default for AnswerGuards {
    fn default() -> Self {
        AnswerGuards {
            ngram_size: 4,
            ngram_max_occurrences: 2,
            max_sentences: 6,
            sentence_stop_window: 32,
        }
    }
}

/// Greedy choice after the repeat penalty (candle's semantics: every distinct token of
/// `recent` has a positive logit divided by, a negative one multiplied by, `penalty`) and with
/// every token in `banned` masked. None only when every token is masked.
pub fn select_greedy(
    logits: &mut [f32],
    penalty: f32,
    recent: &[u32],
    banned: &[u32],
) -> Option<u32> {
    if penalty != 1.0 {
        let mut seen = HashSet::with_capacity(recent.len());
        for &token in recent {
            if !seen.insert(token) {
                continue;
            }
            if let Some(logit) = logits.get_mut(token as usize) {
                if *logit >= 0.0 {
                    *logit /= penalty;
                } else {
                    *logit *= penalty;
                }
            }
        }
    }
    for &token in banned {
        if let Some(logit) = logits.get_mut(token as usize) {
            *logit = f32::NEG_INFINITY;
        }
    }
    let mut best: Option<(u32, f32)> = None;
    for (i, &logit) in logits.iter().enumerate() {
        if logit == f32::NEG_INFINITY || logit.is_nan() {
            continue;
        }
        if best.is_none_or(|(_, b)| logit > b) {
            best = Some((i as u32, logit));
        }
    }
    best.map(|(i, _)| i)
}

/// Tokens that must not come next: each would complete an n-gram (its last `n - 1` tokens
/// being the end of `generated`) that already occurs `max_occurrences` times in `generated`.
pub fn banned_tokens(generated: &[u32], n: usize, max_occurrences: usize) -> Vec<u32> {
    if n == 0 || generated.len() + 1 < n {
        return Vec::new();
    }
    let prefix = &generated[generated.len() + 1 - n..];
    let mut counts: Vec<(u32, usize)> = Vec::new();
    for window in generated.windows(n) {
        if &window[..n - 1] != prefix {
            continue;
        }
        let next = window[n - 1];
        match counts.iter_mut().find(|(t, _)| *t == next) {
            Some((_, c)) => *c += 1,
            None => counts.push((next, 1)),
        }
    }
    counts
        .into_iter()
        .filter(|&(_, c)| c >= max_occurrences)
        .map(|(t, _)| t)
        .collect()
}

/// Words ending in a full stop that do not end a sentence.
const ABBREVIATIONS: &[&str] = &[
    "e.g.", "i.e.", "etc.", "vs.", "cf.", "approx.", "dr.", "mr.", "mrs.", "ms.", "fig.", "et al.",
];

/// Whether `text` ends a sentence: a `.`, `!` or `?` (not a known abbreviation, not a lone
/// initial or a list number like `2.`), optionally followed by closing quotes, brackets and
/// citation markers such as `[2]`.
pub fn ends_sentence(text: &str) -> bool {
    let mut trimmed = text.trim_end();
    // Citation markers and closing punctuation after the terminator: "... capital. [1]".
    loop {
        let before = trimmed;
        trimmed = trimmed
            .trim_end_matches(['"', '\'', ')', '’', '”'])
            .trim_end();
        if let Some(rest) = trimmed.strip_suffix(']')
            && let Some(open) = rest.rfind('[')
            && rest[open + 1..]
                .chars()
                .all(|c| c.is_ascii_digit() || c == ',' || c == ' ')
        {
            trimmed = rest[..open].trim_end();
        }
        if trimmed == before {
            break;
        }
    }
    let Some(last) = trimmed.chars().last() else {
        return false;
    };
    match last {
        '!' | '?' => true,
        '.' => {
            let lower = trimmed.to_lowercase();
            if ABBREVIATIONS.iter().any(|a| {
                lower.ends_with(a)
                    && lower[..lower.len() - a.len()]
                        .chars()
                        .last()
                        .is_none_or(|c| !c.is_alphanumeric())
            }) {
                return false;
            }
            // The word before the dot: a single letter (an initial) or a number opening a
            // line (a list item) does not end a sentence.
            let body = &trimmed[..trimmed.len() - 1];
            let word = body.rsplit(char::is_whitespace).next().unwrap_or("");
            let before_word = body[..body.len() - word.len()].trim_end_matches([' ', '\t']);
            let initial = word.chars().count() == 1 && word.chars().all(char::is_alphabetic);
            let list_item = !word.is_empty()
                && word.chars().all(|c| c.is_ascii_digit())
                && (before_word.is_empty() || before_word.ends_with('\n'));
            !word.is_empty() && !initial && !list_item
        }
        _ => false,
    }
}

/// What to do with the next token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Emit it and go on.
    Continue,
    /// The answer ended cleanly before this token (a sentence limit was reached): drop it.
    StopBefore,
    /// This token ends the sentence that reaches a limit (`".\n"`): emit it, then stop.
    StopAfter,
}

/// Follows the answer's text token by token, counting sentences. A sentence end is confirmed
/// by whitespace after the terminator — at the start of the next token (not a citation
/// marker), or inside a token that carries both (`".\n"`) — so `3.5` and a `[2]` after a full
/// stop do not count.
#[derive(Debug)]
pub struct SentenceTracker {
    guards: AnswerGuards,
    max_new: usize,
    sentences: usize,
    /// The sentence ending at the end of `tail` is already counted.
    counted: bool,
    /// The end of the text so far (enough to judge a sentence end).
    tail: String,
}

/// Characters of the answer kept to judge sentence ends.
const TAIL_CHARS: usize = 48;

impl SentenceTracker {
    pub fn new(guards: AnswerGuards, max_new: usize) -> Self {
        SentenceTracker {
            guards,
            max_new,
            sentences: 0,
            counted: false,
            tail: String::new(),
        }
    }

    /// Sentences completed so far.
    #[cfg(test)]
    pub fn sentences(&self) -> usize {
        self.sentences
    }

    /// Whether the answer, with `emitted` tokens, must end at the sentence just completed.
    fn limit_reached(&self, emitted: usize) -> bool {
        let by_count = self.guards.max_sentences > 0 && self.sentences >= self.guards.max_sentences;
        // A short cap gets a proportionally short window.
        let window = self.guards.sentence_stop_window.min(self.max_new / 4);
        let near_cap = window > 0 && emitted + window >= self.max_new;
        by_count || near_cap
    }

    /// Judges the next token (`text` its text, `already` the tokens emitted before it) and,
    /// unless the answer stops before it, records its text.
    pub fn next(&mut self, text: &str, already: usize) -> Verdict {
        let starts_new = text.starts_with(char::is_whitespace);
        let is_citation = text.trim_start().starts_with('[');
        if starts_new && !is_citation && !self.counted && ends_sentence(&self.tail) {
            self.sentences += 1;
            self.counted = true;
            if self.limit_reached(already) {
                return Verdict::StopBefore;
            }
        }
        self.tail.push_str(text);
        if self.tail.len() > TAIL_CHARS * 2 {
            let mut cut = self.tail.len() - TAIL_CHARS;
            while !self.tail.is_char_boundary(cut) {
                cut += 1;
            }
            self.tail.drain(..cut);
        }
        if !text.trim().is_empty() {
            self.counted = false;
        }
        if !self.counted && text.ends_with(char::is_whitespace) && ends_sentence(&self.tail) {
            self.sentences += 1;
            self.counted = true;
            if self.limit_reached(already + 1) {
                return Verdict::StopAfter;
            }
        }
        Verdict::Continue
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// A synthetic "model" that always prefers to continue the cycle 1 2 3 4 1 2 3 4 ...; the
    /// second choice is token 9 + position. Decoding with the blocker must never let a 4-gram
    /// occur a third time, and must pick a legal token when the favourite is masked.
    #[test]
    fn ngram_blocking_stops_a_loop_on_synthetic_logits() {
        let vocab = 300;
        let mut generated: Vec<u32> = Vec::new();
        for step in 0..120 {
            let mut logits = vec![0.0f32; vocab];
            let favourite = (step % 4) as u32 + 1;
            logits[favourite as usize] = 10.0;
            logits[9 + step % 200] = 5.0;
            let banned = banned_tokens(&generated, 4, 2);
            let next = select_greedy(&mut logits, 1.0, &[], &banned).unwrap();
            assert!(!banned.contains(&next));
            generated.push(next);
        }
        let mut counts = std::collections::HashMap::new();
        for w in generated.windows(4) {
            *counts.entry(w.to_vec()).or_insert(0) += 1;
        }
        assert!(
            counts.values().all(|&c| c <= 2),
            "a 4-gram occurs three times: {counts:?}"
        );
        // The favourite came back after every block: blocking masks one token, not the loop's
        // vocabulary.
        assert!(generated.iter().filter(|&&t| t == 1).count() > 10);
    }

    #[test]
    fn the_banned_token_is_the_one_completing_the_twice_seen_ngram() {
        // 5 6 7 8 occurs twice; the answer ends in 5 6 7: 8 is banned, nothing else.
        let generated = [5, 6, 7, 8, 1, 5, 6, 7, 8, 2, 5, 6, 7];
        assert_eq!(banned_tokens(&generated, 4, 2), vec![8]);
        // Seen once only: allowed.
        assert!(banned_tokens(&[5, 6, 7, 8, 1, 5, 6, 7], 4, 2).is_empty());
        // Off, or too short to hold an n-gram.
        assert!(banned_tokens(&generated, 0, 2).is_empty());
        assert!(banned_tokens(&[5, 6], 4, 2).is_empty());
        // max_occurrences 1: no n-gram may repeat at all.
        assert_eq!(banned_tokens(&[5, 6, 7, 8, 5, 6, 7], 4, 1), vec![8]);
    }

    #[test]
    fn greedy_selection_keeps_candles_repeat_penalty() {
        // Token 0 leads (2.0 vs 1.5) until penalised by 1.5: 2.0 / 1.5 < 1.5.
        let mut logits = vec![2.0, 1.5, -1.0];
        assert_eq!(select_greedy(&mut logits.clone(), 1.0, &[0], &[]), Some(0));
        assert_eq!(select_greedy(&mut logits, 1.5, &[0, 0, 2], &[]), Some(1));
        // A negative logit is multiplied, once however often the token occurred.
        assert!((logits[2] - -1.5).abs() < 1e-6);
        // All masked: nothing to choose.
        assert_eq!(select_greedy(&mut [1.0, 2.0], 1.0, &[], &[0, 1]), None);
    }

    #[test]
    fn sentence_ends_are_told_from_abbreviations_numbers_and_citations() {
        for text in [
            "Paris is the capital.",
            "It works [2].",
            "It works. [2]",
            "It works. [1][3] ",
            "Really?",
            "He said \"stop.\"",
            "(See the docs.)",
        ] {
            assert!(ends_sentence(text), "{text:?} ends a sentence");
        }
        for text in [
            "Use a model, e.g.",
            "Steps:\n1.",
            "2.",
            "Written by J.",
            "It costs 3",
            "",
            "smith et al.",
        ] {
            assert!(!ends_sentence(text), "{text:?} does not end a sentence");
        }
        assert!(ends_sentence("The value is 3."));
    }

    fn feed(tracker: &mut SentenceTracker, pieces: &[&str]) -> Option<usize> {
        for (i, piece) in pieces.iter().enumerate() {
            match tracker.next(piece, i) {
                Verdict::StopBefore => return Some(i),
                Verdict::StopAfter => return Some(i + 1),
                Verdict::Continue => {}
            }
        }
        None
    }

    #[test]
    fn a_token_carrying_the_full_stop_and_the_line_break_ends_the_sentence() {
        let guards = AnswerGuards {
            max_sentences: 2,
            sentence_stop_window: 0,
            ..AnswerGuards::default()
        };
        let mut tracker = SentenceTracker::new(guards, 1000);
        // "Paris.\n" (1), "\n" adds nothing, "It is big. " (2) ends inside its last token:
        // the answer stops after it, before "More".
        let pieces = ["Paris", ".\n", "\n", "It", " is", " big", ". ", "More"];
        assert_eq!(feed(&mut tracker, &pieces), Some(7));
        assert_eq!(tracker.sentences(), 2);
    }

    #[test]
    fn the_answer_stops_after_the_sentence_limit_before_the_next_word() {
        let guards = AnswerGuards {
            max_sentences: 2,
            sentence_stop_window: 0,
            ..AnswerGuards::default()
        };
        let mut tracker = SentenceTracker::new(guards, 1000);
        let pieces = [
            "It", " is", " 3", ".", "5", " metres", ".", " Then", " e", ".", "g", ".", " more",
            " [", "1", "]", ".", " Next", " one", ".",
        ];
        // "It is 3.5 metres." (1), "Then e.g. more [1]." (2): stop before " Next".
        assert_eq!(feed(&mut tracker, &pieces), Some(17));
        assert_eq!(tracker.sentences(), 2);
    }

    #[test]
    fn near_the_cap_the_answer_ends_at_the_first_sentence_end() {
        let guards = AnswerGuards {
            max_sentences: 0,
            sentence_stop_window: 4,
            ..AnswerGuards::default()
        };
        // Cap 10, window min(4, 10 / 4) = 2: the end before token 3 is passed by, the one
        // before token 8 (8 + 2 >= 10) is near the cap.
        let pieces = [
            "One", " two", ".", " Three", " four", " five", " six", ".", " Seven", " eight",
        ];
        let mut tracker = SentenceTracker::new(guards, 10);
        assert_eq!(feed(&mut tracker, &pieces), Some(8));
        // With the window off the cap decides (no stop here).
        let off = AnswerGuards {
            sentence_stop_window: 0,
            ..guards
        };
        assert_eq!(feed(&mut SentenceTracker::new(off, 10), &pieces), None);
    }
}
