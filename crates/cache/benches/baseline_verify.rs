//! The first near-miss verifier (negation parity, numbers, name order, a list of opposites),
//! as shipped before the meaning-level one (crates/cache/src/verify/, commit 93d6fab), kept
//! here only so that the threshold sweep measures the baseline in the same run.
#![allow(dead_code)]
//!
//! The near-miss check that runs after a semantic match. Sentence embeddings put "does X cause
//! Y" and "does X not cause Y" (or "in 2019" / "in 2021", "Did France beat Brazil" / "Did Brazil
//! beat France") very close together, yet their answers differ. Cosine alone cannot tell them
//! apart, so two queries only count as the same question when, in addition to being similar:
//!
//! - they carry the same negation (an odd or even count of negation words);
//! - they mention the same numbers and the same number words: every token holding a digit is
//!   compared whole, so "e4 e5" and "e4 c5", or "v2" and "v3", differ;
//! - the proper names they share appear in the same order, so swapped entities are told apart.
//!   A name is a word with a capital letter that is not merely the first word's capital
//!   ("Russia", "GitHub", "iOS"; a possessive "'s" is dropped).
//!
//! It is token-level and allocation-light: a few microseconds per candidate, and it only runs
//! on candidates that already passed the threshold.

use unicode_normalization::UnicodeNormalization;

const NEGATIONS: &[&str] = &[
    "not",
    "no",
    "never",
    "none",
    "nobody",
    "nothing",
    "neither",
    "nor",
    "without",
    "cannot",
    "cant",
    "can't",
    "don't",
    "dont",
    "doesn't",
    "doesnt",
    "didn't",
    "didnt",
    "isn't",
    "isnt",
    "aren't",
    "arent",
    "wasn't",
    "wasnt",
    "weren't",
    "werent",
    "won't",
    "wont",
    "shouldn't",
    "shouldnt",
    "wouldn't",
    "wouldnt",
    "couldn't",
    "couldnt",
    "mustn't",
    "hasn't",
    "hasnt",
    "haven't",
    "havent",
    "hadn't",
    "hadnt",
];

const NUMBER_WORDS: &[&str] = &[
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "twenty",
    "thirty",
    "forty",
    "fifty",
    "hundred",
    "thousand",
    "million",
    "billion",
    "first",
    "second",
    "third",
    "fourth",
    "fifth",
    "half",
    "double",
    "twice",
    "january",
    "february",
    "march",
    "april",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
    "yesterday",
    "today",
    "tomorrow",
];

/// Opposites: a query with one side and another with the other ask different things
/// ("How do I enable the cache?" / "How do I disable the cache?").
const OPPOSITES: &[(&str, &str)] = &[
    ("enable", "disable"),
    ("enabled", "disabled"),
    ("install", "uninstall"),
    ("increase", "decrease"),
    ("open", "close"),
    ("add", "remove"),
    ("start", "stop"),
    ("high", "low"),
    ("higher", "lower"),
    ("before", "after"),
    ("min", "max"),
    ("minimum", "maximum"),
    ("more", "less"),
    ("with", "without"),
    ("bigger", "smaller"),
    ("larger", "smaller"),
    ("faster", "slower"),
    ("best", "worst"),
    ("import", "export"),
    ("upload", "download"),
    ("encrypt", "decrypt"),
    ("boiling", "freezing"),
    ("buy", "sell"),
    ("win", "lose"),
    ("hot", "cold"),
    ("first", "last"),
];

/// Words that start with a capital letter for grammar, not because they name something.
const CAPITALISED_FUNCTION_WORDS: &[&str] = &["i", "i'm", "i've", "i'd", "i'll"];

/// What the check compares, extracted once per query.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct QuerySignature {
    negated: bool,
    /// For each pair of [`OPPOSITES`]: -1 (only the first side), 1 (only the second), 0.
    sides: Vec<i8>,
    numbers: Vec<String>,
    /// Proper names in order of first appearance.
    names: Vec<String>,
}

impl QuerySignature {
    /// Reads `query` as the user typed it (case matters for names).
    pub fn of(query: &str) -> QuerySignature {
        let text: String = query.nfkc().collect();
        let mut negations = 0usize;
        let mut numbers = Vec::new();
        let mut names = Vec::new();
        let mut words = Vec::new();
        let mut sentence_start = true;
        for raw in
            text.split(|c: char| c.is_whitespace() || matches!(c, ',' | ';' | '(' | ')' | '"'))
        {
            let word = raw.trim_matches(|c: char| !c.is_alphanumeric() && c != '\'');
            if word.is_empty() {
                continue;
            }
            let lower = word.to_lowercase().replace('’', "'");
            words.push(lower.clone());
            if NEGATIONS.contains(&lower.as_str()) || lower.ends_with("n't") {
                negations += 1;
            }
            if word.chars().any(|c| c.is_ascii_digit()) || NUMBER_WORDS.contains(&lower.as_str()) {
                numbers.push(lower.clone());
            }
            let initial = word.chars().next().is_some_and(char::is_uppercase);
            let inner = word.chars().skip(1).any(char::is_uppercase);
            if (inner || (initial && !sentence_start))
                && !CAPITALISED_FUNCTION_WORDS.contains(&lower.as_str())
            {
                let name = lower.strip_suffix("'s").unwrap_or(&lower).to_string();
                if !names.contains(&name) {
                    names.push(name);
                }
            }
            sentence_start = raw.ends_with(['.', '?', '!']);
        }
        numbers.sort();
        let sides = OPPOSITES
            .iter()
            .map(|(a, b)| {
                let has = |w: &str| words.iter().any(|x| x == w);
                match (has(a), has(b)) {
                    (true, false) => -1,
                    (false, true) => 1,
                    _ => 0,
                }
            })
            .collect();
        QuerySignature {
            negated: negations % 2 == 1,
            sides,
            numbers,
            names,
        }
    }

    /// True when `self` and `other` may be answered by the same answer.
    pub fn agrees_with(&self, other: &QuerySignature) -> bool {
        if self.negated != other.negated || self.numbers != other.numbers {
            return false;
        }
        if self
            .sides
            .iter()
            .zip(&other.sides)
            .any(|(a, b)| *a != 0 && *b != 0 && a != b)
        {
            return false;
        }
        // The names both queries mention must come in the same order; a paraphrase may drop
        // or add a name (e.g. "Rust" in "Rust ownership"), which the threshold judges.
        let shared = |names: &[String], of: &[String]| -> Vec<String> {
            names.iter().filter(|n| of.contains(n)).cloned().collect()
        };
        shared(&self.names, &other.names) == shared(&other.names, &self.names)
    }
}

/// Both queries' signatures agree (see the module header).
pub fn same_question(a: &str, b: &str) -> bool {
    QuerySignature::of(a).agrees_with(&QuerySignature::of(b))
}
