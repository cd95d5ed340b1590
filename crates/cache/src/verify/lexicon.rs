//! What the verifier knows about English words: WordNet 3.0's lemmas, inflection exceptions,
//! synonym groups, derivations and antonyms, baked into `data/wordnet.tsv` by
//! `data/make_wordnet.py` (see its header) and compiled into the binary, so no service and no
//! CI machine needs the WordNet package at run time. Parsed once, on the first query (about
//! 88 000 lines, tens of milliseconds).
//!
//! [`Lexicon::lemmas`] is WordNet's "morphy": a word's base forms are the exception list's
//! entries, or what the detachment rules of its part of speech give when the result is a
//! lemma of that part of speech (`causes` → `cause`, `children` → `child`, `faster` → `fast`).

use std::collections::HashMap;
use std::sync::LazyLock;

const DATA: &str = include_str!("../../data/wordnet.tsv");

const NOUN: u8 = 1;
const VERB: u8 = 2;
const ADJ: u8 = 4;
const ADV: u8 = 8;

/// The grammatical degree a form carries: `fast` / `faster` / `fastest`. Two words only share
/// a lemma when they share it at the same degree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Degree {
    Positive,
    Comparative,
    Superlative,
}

/// Irregular comparatives and superlatives (WordNet's adj.exc lists some of them without the
/// degree, e.g. `worse` → `bad`).
const COMPARATIVES: &[&str] = &[
    "better", "worse", "more", "less", "fewer", "further", "farther", "lesser", "elder",
];
const SUPERLATIVES: &[&str] = &[
    "best", "worst", "most", "least", "fewest", "furthest", "farthest", "eldest",
];

struct Entry {
    pos: u8,
    /// Synonym groups (sorted).
    groups: Box<[u32]>,
    /// Derivationally related lemmas (sorted ids).
    derived: Box<[u32]>,
    /// Antonyms (sorted ids).
    antonyms: Box<[u32]>,
}

pub(crate) struct Lexicon {
    ids: HashMap<&'static str, u32>,
    entries: Vec<Entry>,
    exceptions: HashMap<&'static str, Box<[u32]>>,
}

static LEXICON: LazyLock<Lexicon> = LazyLock::new(|| Lexicon::parse(DATA));

/// The baked WordNet, parsed on first use.
pub(crate) fn lexicon() -> &'static Lexicon {
    &LEXICON
}

/// Detachment rules per part of speech (WordNet's morph.c).
const NOUN_RULES: &[(&str, &str)] = &[
    ("s", ""),
    ("ses", "s"),
    ("xes", "x"),
    ("zes", "z"),
    ("ches", "ch"),
    ("shes", "sh"),
    ("men", "man"),
    ("ies", "y"),
];
const VERB_RULES: &[(&str, &str)] = &[
    ("s", ""),
    ("ies", "y"),
    ("es", "e"),
    ("es", ""),
    ("ed", "e"),
    ("ed", ""),
    ("ing", "e"),
    ("ing", ""),
];
const ADJ_RULES: &[(&str, &str, Degree)] = &[
    ("er", "", Degree::Comparative),
    ("est", "", Degree::Superlative),
    ("er", "e", Degree::Comparative),
    ("est", "e", Degree::Superlative),
];

impl Lexicon {
    fn parse(data: &'static str) -> Lexicon {
        let lines: Vec<&'static str> = data
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .collect();
        let mut ids = HashMap::with_capacity(lines.len());
        for line in lines.iter().filter(|l| !l.starts_with('~')) {
            let lemma = line.split('\t').next().unwrap_or_default();
            let id = ids.len() as u32;
            ids.insert(lemma, id);
        }
        let resolve = |field: Option<&str>| -> Box<[u32]> {
            let mut v: Vec<u32> = field
                .unwrap_or_default()
                .split(' ')
                .filter_map(|w| ids.get(w).copied())
                .collect();
            v.sort_unstable();
            v.into_boxed_slice()
        };
        let mut entries = Vec::with_capacity(ids.len());
        let mut exceptions = HashMap::new();
        for line in &lines {
            let mut fields = line.split('\t');
            let head = fields.next().unwrap_or_default();
            if let Some(inflected) = head.strip_prefix('~') {
                exceptions.insert(inflected, resolve(fields.next()));
                continue;
            }
            let pos = fields.next().unwrap_or_default().bytes().fold(0u8, |m, c| {
                m | match c {
                    b'n' => NOUN,
                    b'v' => VERB,
                    b'a' => ADJ,
                    b'r' => ADV,
                    _ => 0,
                }
            });
            let mut groups: Vec<u32> = fields
                .next()
                .unwrap_or_default()
                .split(' ')
                .filter_map(|g| u32::from_str_radix(g, 36).ok())
                .collect();
            groups.sort_unstable();
            entries.push(Entry {
                pos,
                groups: groups.into_boxed_slice(),
                derived: resolve(fields.next()),
                antonyms: resolve(fields.next()),
            });
        }
        Lexicon {
            ids,
            entries,
            exceptions,
        }
    }

    fn has(&self, word: &str, pos: u8) -> Option<u32> {
        let id = *self.ids.get(word)?;
        (self.entries[id as usize].pos & pos != 0).then_some(id)
    }

    /// The base forms of `word` (lowercase) with the degree the form carries; empty when
    /// WordNet does not know the word.
    pub(crate) fn lemmas(&self, word: &str) -> Vec<(u32, Degree)> {
        let mut out: Vec<(u32, Degree)> = Vec::new();
        let mut push = |id: u32, d: Degree| {
            if !out.contains(&(id, d)) {
                out.push((id, d));
            }
        };
        let irregular = if COMPARATIVES.contains(&word) {
            Degree::Comparative
        } else if SUPERLATIVES.contains(&word) {
            Degree::Superlative
        } else {
            Degree::Positive
        };
        if let Some(&id) = self.ids.get(word) {
            push(id, Degree::Positive);
        }
        if let Some(bases) = self.exceptions.get(word) {
            for &id in bases.iter() {
                let d = if irregular != Degree::Positive {
                    irregular
                } else if self.entries[id as usize].pos & ADJ != 0 && word.ends_with("er") {
                    Degree::Comparative
                } else if self.entries[id as usize].pos & ADJ != 0 && word.ends_with("est") {
                    Degree::Superlative
                } else {
                    Degree::Positive
                };
                push(id, d);
            }
        }
        let mut detach = |suffix: &str, ending: &str, pos: u8, d: Degree| {
            if let Some(stem) = word.strip_suffix(suffix)
                && !stem.is_empty()
            {
                let base = format!("{stem}{ending}");
                if let Some(id) = self.has(&base, pos) {
                    push(id, d);
                }
            }
        };
        for (suffix, ending) in NOUN_RULES {
            detach(suffix, ending, NOUN, Degree::Positive);
        }
        for (suffix, ending) in VERB_RULES {
            detach(suffix, ending, VERB, Degree::Positive);
        }
        for (suffix, ending, d) in ADJ_RULES {
            detach(suffix, ending, ADJ, *d);
        }
        // An adverb in -ly is a derivation of its adjective (mainly/main, happily/happy) when
        // WordNet does not link it to one itself.
        let linked = self
            .ids
            .get(word)
            .is_some_and(|&id| !self.entries[id as usize].derived.is_empty());
        if !linked {
            detach("ily", "y", ADJ, Degree::Positive);
            detach("ly", "", ADJ, Degree::Positive);
        }
        out
    }

    /// `a` and `b` share a synonym group.
    pub(crate) fn synonyms(&self, a: u32, b: u32) -> bool {
        intersects(
            &self.entries[a as usize].groups,
            &self.entries[b as usize].groups,
        )
    }

    /// `a` and `b` are linked by a derivation or pertainym pointer.
    pub(crate) fn derived(&self, a: u32, b: u32) -> bool {
        self.entries[a as usize].derived.binary_search(&b).is_ok()
    }

    /// `a` and `b` are antonyms in some sense.
    pub(crate) fn antonyms(&self, a: u32, b: u32) -> bool {
        self.entries[a as usize].antonyms.binary_search(&b).is_ok()
    }

    /// `word` can be a verb (used to tell the infinitive "to" from the preposition).
    pub(crate) fn can_be_verb(&self, word: &str) -> bool {
        self.lemmas(word)
            .iter()
            .any(|(id, _)| self.entries[*id as usize].pos & VERB != 0)
    }
}

/// Two sorted slices share an element.
fn intersects(a: &[u32], b: &[u32]) -> bool {
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => return true,
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lemma(word: &str) -> u32 {
        lexicon().ids[word]
    }

    #[test]
    fn inflections_reach_their_lemma_at_their_degree() {
        let lx = lexicon();
        assert!(
            lx.lemmas("causes")
                .contains(&(lemma("cause"), Degree::Positive))
        );
        assert!(
            lx.lemmas("children")
                .contains(&(lemma("child"), Degree::Positive))
        );
        assert!(
            lx.lemmas("faster")
                .contains(&(lemma("fast"), Degree::Comparative))
        );
        assert!(
            lx.lemmas("worse")
                .contains(&(lemma("bad"), Degree::Comparative))
        );
        assert!(
            !lx.lemmas("fast")
                .contains(&(lemma("fast"), Degree::Comparative))
        );
        assert!(lx.lemmas("qwertyuiop").is_empty());
    }

    #[test]
    fn synonyms_derivations_and_antonyms() {
        let lx = lexicon();
        assert!(lx.synonyms(lemma("begin"), lemma("start")));
        assert!(lx.synonyms(lemma("doctor"), lemma("physician")));
        assert!(!lx.synonyms(lemma("adult"), lemma("child")));
        assert!(!lx.synonyms(lemma("increase"), lemma("reduce")));
        assert!(lx.derived(lemma("reduce"), lemma("reduction")));
        assert!(lx.antonyms(lemma("increase"), lemma("decrease")));
        assert!(lx.antonyms(lemma("more"), lemma("less")));
    }
}
