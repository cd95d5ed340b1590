//! The content words of a query, each with what it may be matched by: its WordNet lemmas at
//! their degree, its role (the direction preposition in front of it: "from X to Y"), and
//! whether it follows a negation. Function words, politeness and framing ("could you tell
//! me", "please") carry no content and are left out; numbers are compared whole.

use super::lexicon::{Degree, Lexicon, lexicon};
use super::{NEGATIONS, NUMBER_WORDS};

/// Words that do not change what is asked: articles, pronouns, auxiliaries, neutral
/// prepositions and conjunctions, `what`/`which`, and politeness or framing. Words that do
/// change it stay content: `how`/`why`/`when`/`where`/`who`, quantifiers (`all`, `some`,
/// `most`), modals of obligation (`should`, `must`, `may`), directions (`up`, `out`, `off`,
/// `before`, `after`), comparisons (`more`, `less`).
const FUNCTION_WORDS: &[&str] = &[
    // articles, determiners, pronouns
    "a",
    "an",
    "the",
    "this",
    "that",
    "these",
    "those",
    "any",
    "there",
    "it",
    "its",
    "i",
    "me",
    "my",
    "mine",
    "myself",
    "you",
    "your",
    "yours",
    "yourself",
    "we",
    "us",
    "our",
    "ours",
    "he",
    "him",
    "his",
    "she",
    "her",
    "hers",
    "they",
    "them",
    "their",
    "theirs",
    "one's",
    // auxiliaries and modals of possibility
    "be",
    "am",
    "is",
    "are",
    "was",
    "were",
    "been",
    "being",
    "do",
    "does",
    "did",
    "doing",
    "have",
    "has",
    "had",
    "having",
    "can",
    "could",
    "will",
    "would",
    "shall",
    "ca",
    "wo",
    // neutral prepositions and conjunctions (the direction ones are roles, below)
    "of",
    "for",
    "in",
    "on",
    "at",
    "with",
    "as",
    "about",
    "than",
    "and",
    "or",
    "but",
    "if",
    "so",
    "whether",
    "then",
    "what",
    "which",
    "also",
    "between",
    // politeness and framing
    "please",
    "thanks",
    "thank",
    "hi",
    "hello",
    "hey",
    "tell",
    "explain",
    "describe",
    "know",
    "wonder",
    "wondering",
    "curious",
    "like",
    "want",
    "quick",
    "question",
    "kindly",
    "exactly",
    "actually",
    "just",
    "really",
    "basically",
];

/// Modals that do not change a "how" question: "how should I", "how do I need to", "how do I".
const HOW_MODALS: &[&str] = &["should", "must", "need", "needs", "ought"];

/// Auxiliaries before a generic subject ("do people", "can people").
const AUXILIARIES: &[&str] = &[
    "do", "does", "did", "can", "could", "should", "would", "will", "may", "might", "must",
];

/// "The best / right / proper way to": said of the manner noun that "how" stands for.
const MANNER_ADJECTIVES: &[&str] = &["best", "good", "right", "proper", "correct"];

/// Prepositions that give the next content word a role: "copy from X to Y" differs from "copy
/// from Y to X".
const ROLE_PREPOSITIONS: &[&str] = &["from", "to", "into", "onto", "by", "toward", "towards"];

/// One content word of a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Word {
    /// Lowercase, as typed (minus possessive and contraction endings).
    pub(crate) surface: Box<str>,
    /// WordNet lemmas (of the word and of its American spelling) with the degree of the form.
    pub(crate) lemmas: Box<[(u32, Degree)]>,
    /// A number or number word: matched only by the same token.
    pub(crate) exact: bool,
    /// 1 + index into [`ROLE_PREPOSITIONS`] of the preposition in front, 0 for none.
    pub(crate) role: u8,
    /// Directly follows a negation ("not sleeping", "don't exercise").
    pub(crate) negated: bool,
}

/// The content words of `text` (already NFKC-normalised).
pub(crate) fn content_words(text: &str) -> Vec<Word> {
    let lx = lexicon();
    let mut raw_words: Vec<String> = Vec::new();
    for raw in text.split(|c: char| {
        c.is_whitespace() || matches!(c, ',' | ';' | '(' | ')' | '"' | '?' | '!' | ':')
    }) {
        let word = raw
            .trim_matches(|c: char| !c.is_alphanumeric() && c != '\'' && c != '’')
            .to_lowercase()
            .replace('’', "'");
        let word = word.trim_matches('\'');
        if word.is_empty() {
            continue;
        }
        if word.chars().any(|c| c.is_ascii_digit()) {
            raw_words.push(word.to_string());
            continue;
        }
        for part in word.split(['-', '/', '.']) {
            if !part.is_empty() {
                raw_words.push(part.to_string());
            }
        }
    }
    let mut out = Vec::new();
    let mut role = 0u8;
    let mut negated = false;
    let mut seen_how = false;
    for (i, word) in raw_words.iter().enumerate() {
        let word = word.as_str();
        if NEGATIONS.contains(&word) || word.ends_with("n't") || word == "non" {
            negated = true;
            continue;
        }
        let word = ["'s", "'d", "'m", "'ve", "'ll", "'re"]
            .iter()
            .find_map(|s| word.strip_suffix(s))
            .unwrap_or(word);
        if let Some(p) = ROLE_PREPOSITIONS.iter().position(|p| *p == word) {
            // "to" in front of a verb is the infinitive: "how to install" = "how do I install".
            let infinitive = word == "to"
                && raw_words
                    .get(i + 1)
                    .is_some_and(|next| lx.can_be_verb(next));
            role = if infinitive { 0 } else { p as u8 + 1 };
            continue;
        }
        let previous = i
            .checked_sub(1)
            .and_then(|p| raw_words.get(p))
            .map(String::as_str);
        let next = raw_words.get(i + 1).map(String::as_str);
        // "What does X do (in Y)?" asks for X's function: "do" is the main verb there.
        let main_do = matches!(word, "do" | "does")
            && next.is_none_or(|n| matches!(n, "in" | "to" | "for" | "on" | "at" | "with"));
        // "What makes X ...?" asks why.
        let what_makes = matches!(word, "make" | "makes") && previous == Some("what");
        let word = if main_do {
            "do"
        } else if what_makes {
            "why"
        } else {
            word
        };
        if word.is_empty() || (FUNCTION_WORDS.contains(&word) && !main_do) {
            continue;
        }
        if word == "how" {
            seen_how = true;
        }
        // "How should I / do I need to / do I" ask the same; "should I?" alone does not.
        let how_modal = seen_how && HOW_MODALS.contains(&word);
        // "What do people use X for" = "What is X used for": a generic subject.
        let generic_subject =
            word == "people" && previous.is_some_and(|p| AUXILIARIES.contains(&p));
        // "the best way to" = "how should I": the manner noun is matched against "how".
        let manner_adjective =
            MANNER_ADJECTIVES.contains(&word) && next.is_some_and(|n| super::MANNER.contains(&n));
        // "How does X differ from Y" = "what is the difference between X and Y".
        let how_differ = word == "how" && asks_difference(&raw_words);
        if how_modal || generic_subject || manner_adjective || how_differ {
            continue;
        }
        let exact = word.chars().any(|c| c.is_ascii_digit()) || NUMBER_WORDS.contains(&word);
        let lemmas = if exact {
            Vec::new()
        } else {
            lemmas_with_spelling(lx, word)
        };
        out.push(Word {
            surface: word.into(),
            lemmas: lemmas.into_boxed_slice(),
            exact,
            role,
            negated,
        });
        role = 0;
        negated = false;
    }
    out
}

/// The query asks how two things differ (`differ`, `different`, `difference`).
fn asks_difference(raw_words: &[String]) -> bool {
    raw_words.iter().any(|w| {
        matches!(
            w.as_str(),
            "differ" | "differs" | "different" | "difference"
        )
    })
}

/// The lemmas of `word` and of its American spelling (`colour`, `anaemia`, `optimise`,
/// `centre`, `catalogue`, `defence`) when WordNet knows that spelling.
fn lemmas_with_spelling(lx: &Lexicon, word: &str) -> Vec<(u32, Degree)> {
    let mut lemmas = lx.lemmas(word);
    if let Some(variant) = american(word) {
        for l in lx.lemmas(&variant) {
            if !lemmas.contains(&l) {
                lemmas.push(l);
            }
        }
    }
    lemmas
}

/// The American spelling of a British one, by the regular correspondences; `None` when no
/// rule applies. Only used when WordNet knows the result.
pub(crate) fn american(word: &str) -> Option<String> {
    const ENDINGS: &[(&str, &str, usize)] = &[
        // (British ending, American ending, letters required before it)
        ("isations", "izations", 2),
        ("isation", "ization", 2),
        ("ising", "izing", 3),
        ("ised", "ized", 3),
        ("ises", "izes", 3),
        ("ise", "ize", 3),
        ("ysing", "yzing", 2),
        ("ysed", "yzed", 2),
        ("yse", "yze", 2),
        ("ourite", "orite", 3),
        ("ouring", "oring", 3),
        ("oured", "ored", 3),
        ("ours", "ors", 3),
        ("our", "or", 3),
        ("tres", "ters", 2),
        ("tre", "ter", 2),
        ("bres", "bers", 2),
        ("bre", "ber", 2),
        ("ogues", "ogs", 2),
        ("ogue", "og", 2),
        ("ences", "enses", 3),
        ("ence", "ense", 3),
        ("mmes", "ms", 3),
        ("mme", "m", 3),
    ];
    let mut out = None;
    for (british, american, before) in ENDINGS {
        if let Some(stem) = word.strip_suffix(british)
            && stem.chars().count() >= *before
        {
            out = Some(format!("{stem}{american}"));
            break;
        }
    }
    // "ae"/"oe" → "e" between consonants or at the start (anaemia, paediatric, oestrogen,
    // foetus, diarrhoea).
    let base = out.clone().unwrap_or_else(|| word.to_string());
    let simplified = simplify_digraphs(&base);
    if simplified != base {
        out = Some(simplified);
    }
    out
}

fn simplify_digraphs(word: &str) -> String {
    let chars: Vec<char> = word.chars().collect();
    let mut out = String::with_capacity(word.len());
    let mut i = 0;
    while i < chars.len() {
        let pair = chars.get(i + 1).is_some_and(|&n| n == 'e') && matches!(chars[i], 'a' | 'o');
        let before_ok = i == 0 || !is_vowel(chars[i - 1]);
        if pair && before_ok && i + 2 < chars.len() {
            i += 1; // drop the a/o, keep the e
            continue;
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

fn is_vowel(c: char) -> bool {
    matches!(c, 'a' | 'e' | 'i' | 'o' | 'u' | 'y')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn british_spellings_map_to_american_ones() {
        for (gb, us) in [
            ("colour", "color"),
            ("optimise", "optimize"),
            ("analyse", "analyze"),
            ("centre", "center"),
            ("litres", "liters"),
            ("catalogue", "catalog"),
            ("defence", "defense"),
            ("programme", "program"),
            ("anaemia", "anemia"),
            ("oesophageal", "esophageal"),
            ("haemoglobin", "hemoglobin"),
        ] {
            assert_eq!(american(gb).as_deref(), Some(us), "{gb}");
        }
        assert_eq!(american("four"), None);
        assert_eq!(american("hour"), None);
        assert_eq!(american("rise"), None);
    }

    #[test]
    fn function_words_and_politeness_are_not_content() {
        let words: Vec<String> =
            content_words("Could you please tell me how I can reset my password?")
                .iter()
                .map(|w| w.surface.to_string())
                .collect();
        assert_eq!(words, ["how", "reset", "password"]);
        let swapped = content_words("copy files from the server to my laptop");
        assert_eq!(swapped[2].surface.as_ref(), "server");
        assert_ne!(swapped[2].role, swapped[3].role);
        let infinitive = content_words("how to install docker");
        assert_eq!(infinitive[1].role, 0);
        let negated = content_words("does not sleeping cause headaches");
        assert!(negated[0].negated && !negated[1].negated);
    }
}
