//! The near-miss check that runs after a semantic match. Sentence embeddings put "does X cause
//! Y" and "does X not cause Y", "does aspirin reduce the risk" and "does aspirin increase the
//! risk", "in adults" and "in children", or "Did France beat Brazil" and "Did Brazil beat
//! France" very close together, yet their answers differ. Cosine alone cannot tell them apart,
//! so two queries only count as the same question when, in addition to being similar:
//!
//! - every content word of each is accounted for in the other ([`words`]): by the same
//!   lemma at the same degree (`causes`/`cause`, but not `fast`/`faster`), a derivation
//!   (`reduce`/`reduction`), a WordNet synonym in one of the word's three most frequent senses
//!   (`begin`/`start`, `doctor`/`physician`), or the American spelling of a British one — and
//!   never by an antonym. A co-hyponym (`adults`/`children`, `Mars`/`Jupiter`, `day`/`year`),
//!   a changed direction, comparison, quantity, unit, date or name is simply not accounted
//!   for. Function words, politeness and framing are not content ([`lexicon`] holds WordNet);
//! - a word after a direction preposition keeps its role ("from X to Y" / "from Y to X"), and
//!   when both negate, the negations bear on corresponding words ("not sleeping" / "not cause");
//! - they carry the same negation (an odd or even count of negation words);
//! - they mention the same numbers and the same number words: every token holding a digit is
//!   compared whole, so "e4 e5" and "e4 c5", or "v2" and "v3", differ;
//! - the proper names they share appear in the same order, so swapped entities are told apart.
//!   A name is a word with a capital letter that is not merely the first word's capital
//!   ("Russia", "GitHub", "iOS"; a possessive "'s" is dropped).
//!
//! A query's words and lemmas are read once, when it is stored or looked up; comparing two
//! signatures is a few sorted-slice lookups per word pair (cost per candidate:
//! docs/benchmarks.md), and it only runs on candidates that already passed the threshold.

mod lexicon;
mod words;

use lexicon::lexicon;
use unicode_normalization::UnicodeNormalization;
use words::Word;

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

/// What "how" asks for, said as a noun: "what is the way / are the steps to ...".
const MANNER: &[&str] = &[
    "way",
    "ways",
    "step",
    "steps",
    "method",
    "methods",
    "process",
    "procedure",
    "means",
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
    /// Content words, each to be accounted for in the other query.
    words: Vec<Word>,
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
            words: words::content_words(&text),
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
        if shared(&self.names, &other.names) != shared(&other.names, &self.names) {
            return false;
        }
        let scope = self.words.iter().any(|w| w.negated) && other.words.iter().any(|w| w.negated);
        all_accounted(&self.words, &other.words, scope)
            && all_accounted(&other.words, &self.words, scope)
            && !roles_swapped(&self.words, &other.words, scope)
    }
}

/// Two words on either side of a third trade places: "do cats chase dogs" / "do dogs chase
/// cats", "does insulin resistance cause obesity" / "does obesity cause insulin resistance".
/// Moving a phrase to the front ("in adults, what is ...") keeps every word on its side of
/// the others and is not a swap. An active/passive pair is a swap too (a miss, not a false hit).
fn roles_swapped(a: &[Word], b: &[Word], negation_scope: bool) -> bool {
    let at: Vec<Option<usize>> = a
        .iter()
        .map(|x| {
            // The same word first: "chase" may also be accounted for by "dogs" (to dog).
            b.iter().position(|y| y.surface == x.surface).or_else(|| {
                b.iter()
                    .position(|y| (!negation_scope || x.negated == y.negated) && accounts(x, y))
            })
        })
        .collect();
    for (v, pv) in at.iter().enumerate() {
        let Some(pv) = *pv else { continue };
        for px in at[..v].iter().flatten() {
            for py in at[v + 1..].iter().flatten() {
                // x < v < y in `a`, y < v < x in `b`.
                if *py < pv && pv < *px {
                    return true;
                }
            }
        }
    }
    false
}

impl QuerySignature {
    /// The content words of `self` that `other` does not account for (diagnostics: logs,
    /// tests and the evaluation tools).
    pub fn unaccounted_in(&self, other: &QuerySignature) -> Vec<String> {
        let scope = self.words.iter().any(|w| w.negated) && other.words.iter().any(|w| w.negated);
        self.words
            .iter()
            .filter(|x| {
                !other
                    .words
                    .iter()
                    .any(|y| (!scope || x.negated == y.negated) && accounts(x, y))
            })
            .map(|x| x.surface.to_string())
            .collect()
    }
}

/// Every word of `these` is accounted for by some word of `by`.
fn all_accounted(these: &[Word], by: &[Word], negation_scope: bool) -> bool {
    these.iter().all(|x| {
        by.iter()
            .any(|y| (!negation_scope || x.negated == y.negated) && accounts(x, y))
    })
}

/// `y` may stand for `x`: same role, and the same number, the same word, the same lemma at the
/// same degree, a synonym or a derivation — never an antonym.
fn accounts(x: &Word, y: &Word) -> bool {
    // Only two different direction prepositions conflict: "value" in "what happens to a
    // value" and in "the owner of the value" is the same word.
    if x.role != 0 && y.role != 0 && x.role != y.role {
        return false;
    }
    if x.surface == y.surface {
        return true;
    }
    // "How do I ..." asks for the way, the steps, the method, the process, the procedure.
    if (x.surface.as_ref() == "how" && MANNER.contains(&y.surface.as_ref()))
        || (y.surface.as_ref() == "how" && MANNER.contains(&x.surface.as_ref()))
    {
        return true;
    }
    // "What does X do?" asks for its function, role, job, purpose or effect.
    let function = |a: &str, b: &str| {
        a == "do" && matches!(b, "function" | "role" | "job" | "purpose" | "effect")
    };
    if function(&x.surface, &y.surface) || function(&y.surface, &x.surface) {
        return true;
    }
    // "Why ..." asks for the reason.
    let reason = |a: &str, b: &str| a == "why" && matches!(b, "reason" | "reasons");
    if reason(&x.surface, &y.surface) || reason(&y.surface, &x.surface) {
        return true;
    }
    if x.exact || y.exact {
        return false;
    }
    let lx = lexicon();
    if x.lemmas.is_empty() || y.lemmas.is_empty() {
        // A word WordNet does not know (a product, a drug, an acronym): the same word, give or
        // take a plural "s".
        let (a, b) = (x.surface.as_ref(), y.surface.as_ref());
        let plural =
            |s: &str, of: &str| s.strip_suffix("es") == Some(of) || s.strip_suffix('s') == Some(of);
        return plural(a, b) || plural(b, a);
    }
    let pairs = || {
        x.lemmas
            .iter()
            .flat_map(|a| y.lemmas.iter().map(move |b| (*a, *b)))
    };
    if pairs().any(|((a, _), (b, _))| lx.antonyms(a, b)) {
        return false;
    }
    pairs().any(|((a, da), (b, db))| da == db && (a == b || lx.synonyms(a, b) || lx.derived(a, b)))
}

/// Both queries' signatures agree (see the module header).
pub fn same_question(a: &str, b: &str) -> bool {
    QuerySignature::of(a).agrees_with(&QuerySignature::of(b))
}

#[cfg(test)]
mod tests;
