//! Text into the units answers are built from and checked against: sentences (of source
//! chunks and of the model's answer), the analysed terms of a text (lowercased, English stop
//! words removed, Snowball-stemmed like the BM25 index), `[n]` markers found and removed, and
//! a token estimate for the passage budget. The gateway has no model tokenizer, so the estimate
//! is deliberately high for English (every run of letters or digits counts one token per five
//! characters, every other visible character one): the real prompt's count comes back from the
//! generation service as `prompt_tokens`.

use std::ops::Range;

/// Longest bracket content read as a citation marker (as `crate::query::citations`).
const MAX_MARKER_LEN: usize = 40;

/// Words that end with a period without ending a sentence.
const ABBREVIATIONS: &[&str] = &[
    "e.g", "i.e", "etc", "vs", "dr", "mr", "mrs", "ms", "prof", "fig", "no", "al", "approx", "st",
    "cf", "eq",
];

/// The byte ranges of the sentences of `text`, trimmed, in order. A sentence ends at `.`, `!`
/// or `?` followed by whitespace (closing quotes/brackets and `[n]` markers after the
/// punctuation belong to it), or at a line break; abbreviations, initials, decimals and list
/// numbers (`1.`) do not end one. A trailing `[n` whose `]` has not arrived yet keeps its
/// sentence open (streaming).
pub fn sentence_spans(text: &str) -> Vec<Range<usize>> {
    let bytes = text.as_bytes();
    let mut spans = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'\n' && line_break_ends_sentence(text, i) {
            push_trimmed(text, start..i, &mut spans);
            start = i + 1;
        } else if matches!(b, b'.' | b'!' | b'?')
            && let Some(end) = sentence_end(text, start, i)
        {
            push_trimmed(text, start..end, &mut spans);
            start = end;
            i = end;
            continue;
        }
        i += 1;
    }
    push_trimmed(text, start..text.len(), &mut spans);
    spans
}

/// Whether the line break at `at` ends a sentence: at a blank line (paragraph), after a
/// heading, table row or fence line, and before a list item, heading, quote, table row or
/// fence. Other line breaks are hard wrapping inside a paragraph.
fn line_break_ends_sentence(text: &str, at: usize) -> bool {
    let line = text[..at].rsplit('\n').next().unwrap_or("").trim();
    let next = text[at + 1..].split('\n').next().unwrap_or("").trim();
    let block = |l: &str| l.starts_with(['#', '|', '>']) || l.starts_with("```");
    if line.is_empty() || next.is_empty() || block(line) || block(next) {
        return true;
    }
    next.starts_with("- ")
        || next.starts_with("* ")
        || next.starts_with("+ ")
        || next.split_once(['.', ')']).is_some_and(|(n, rest)| {
            !n.is_empty()
                && n.len() <= 2
                && n.bytes().all(|b| b.is_ascii_digit())
                && rest.starts_with(' ')
        })
}

/// Where the sentence whose punctuation is at `at` ends (exclusive), or None when that
/// punctuation does not end a sentence.
fn sentence_end(text: &str, start: usize, at: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    if bytes[at] == b'.' && !period_ends_sentence(&text[start..at]) {
        return None;
    }
    let mut end = at + 1;
    // Repeated punctuation and closing quotes or brackets.
    while end < bytes.len() && matches!(bytes[end], b'.' | b'!' | b'?' | b')' | b'"' | b'\'') {
        end += 1;
    }
    for closing in ["”", "’"] {
        if text[end..].starts_with(closing) {
            end += closing.len();
        }
    }
    // Markers written after the punctuation: "hours. [1]".
    loop {
        let rest = &text[end..];
        let spaces = rest.len() - rest.trim_start_matches([' ', '\t']).len();
        let after = &rest[spaces..];
        if !after.starts_with('[') {
            break;
        }
        match after[1..].find(']') {
            Some(close)
                if close <= MAX_MARKER_LEN && parse_marker(&after[1..1 + close]).is_some() =>
            {
                end += spaces + close + 2;
            }
            // A marker still being written: the sentence is not over yet.
            None if after.len() <= MAX_MARKER_LEN
                && after[1..]
                    .bytes()
                    .all(|b| b.is_ascii_digit() || b" ,;-".contains(&b)) =>
            {
                return None;
            }
            _ => break,
        }
    }
    match text[end..].chars().next() {
        None => Some(end),
        Some(c) if c.is_whitespace() => {
            // "e.g. the" has a lowercase word after; a sentence starts with anything else.
            let next = text[end..].trim_start().chars().next();
            (!next.is_some_and(char::is_lowercase)).then_some(end)
        }
        Some(_) => None,
    }
}

/// False when the word before a period is an abbreviation, an initial or a list number.
fn period_ends_sentence(before: &str) -> bool {
    let word = before
        .rsplit(|c: char| c.is_whitespace() || c == '(')
        .next()
        .unwrap_or("");
    if word.is_empty() {
        return true;
    }
    let lower = word.to_lowercase();
    if ABBREVIATIONS.contains(&lower.as_str()) {
        return false;
    }
    let chars = word.chars().count();
    if chars == 1 && word.chars().all(char::is_alphabetic) {
        return false;
    }
    // "1." at the start of a line is a list item, not the end of a sentence.
    !(chars <= 2 && word.bytes().all(|b| b.is_ascii_digit()) && before.trim() == word)
}

fn push_trimmed(text: &str, range: Range<usize>, spans: &mut Vec<Range<usize>>) {
    let piece = &text[range.clone()];
    let lead = piece.len() - piece.trim_start().len();
    let trimmed = piece.trim();
    if !trimmed.is_empty() {
        let start = range.start + lead;
        spans.push(start..start + trimmed.len());
    }
}

/// The numbers of the citation markers in `text` and the text without them (with the space
/// before each removed marker). Brackets that are not citations stay.
pub fn strip_markers(text: &str) -> (String, Vec<usize>) {
    let mut out = String::with_capacity(text.len());
    let mut numbers = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find('[') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let marker = after
            .find(']')
            .filter(|&c| c <= MAX_MARKER_LEN)
            .and_then(|c| parse_marker(&after[..c]).map(|n| (c, n)));
        match marker {
            Some((close, found)) => {
                for n in found {
                    if !numbers.contains(&n) {
                        numbers.push(n);
                    }
                }
                while out.ends_with(' ') {
                    out.pop();
                }
                rest = &after[close + 1..];
            }
            None => {
                out.push('[');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    // "fed daily [1] ." → "fed daily ." → "fed daily."
    let mut cleaned = String::with_capacity(out.len());
    for (i, c) in out.char_indices() {
        if c == ' ' && out[i + 1..].starts_with(['.', ',', ';', ':', '!', '?']) {
            continue;
        }
        cleaned.push(c);
    }
    (cleaned.trim().to_string(), numbers)
}

/// `1`, `1, 2`, `2-4`: the numbers a marker names (ranges of at most 20). None when it is not
/// a marker.
fn parse_marker(inner: &str) -> Option<Vec<usize>> {
    let number = |s: &str| -> Option<usize> {
        let s = s.trim();
        (!s.is_empty() && s.len() <= 4 && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())?
    };
    let mut out = Vec::new();
    for part in inner.split([',', ';']) {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (number(a)?, number(b)?);
                if a > b || b - a > 20 {
                    return None;
                }
                out.extend(a..=b);
            }
            None => out.push(number(part)?),
        }
    }
    Some(out)
}

/// `text` with `citations` written before its final punctuation: "Fed daily [1]."
pub fn with_markers(text: &str, citations: &[usize]) -> String {
    if citations.is_empty() {
        return text.to_string();
    }
    let marker = format!(
        "[{}]",
        citations
            .iter()
            .map(usize::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    );
    let body = text.trim_end_matches(['.', '!', '?', '"', '\'', ')', '”', '’', ':', ';']);
    let tail = &text[body.len()..];
    format!("{} {marker}{tail}", body.trim_end())
}

/// English stop words (the common function words; content words carry the match).
const STOP_WORDS: &[&str] = &[
    "a", "an", "and", "are", "as", "at", "be", "been", "but", "by", "can", "do", "does", "for",
    "from", "had", "has", "have", "how", "i", "if", "in", "into", "is", "it", "its", "itself",
    "may", "of", "on", "or", "so", "such", "than", "that", "the", "their", "them", "then", "there",
    "these", "they", "this", "those", "to", "was", "were", "what", "when", "where", "which",
    "while", "who", "why", "will", "with", "would", "should", "could", "you", "your", "we", "our",
    "he", "she", "his", "her", "not", "no", "also", "about", "after", "before", "all", "any",
    "each", "more", "most", "other", "some", "only", "own", "same", "very", "s", "t", "just",
    "did", "am", "being", "here", "one", "both",
];

/// The analysed terms of `text`, in order: runs of letters and digits, lowercased, stop words
/// removed, Snowball English stems.
pub fn terms(text: &str) -> Vec<String> {
    let stemmer = frostem::Stemmer::new(frostem::Algorithm::English);
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty() && w.len() <= 40)
        .map(str::to_lowercase)
        .filter(|w| !STOP_WORDS.contains(&w.as_str()))
        .map(|w| stemmer.stem(&w).into_owned())
        .collect()
}

/// Estimated prompt tokens of `text` (module header).
pub fn estimate_tokens(text: &str) -> usize {
    let mut tokens: usize = 0;
    let mut run: usize = 0;
    for c in text.chars() {
        if c.is_alphanumeric() {
            run += 1;
            continue;
        }
        tokens += run.div_ceil(5);
        run = 0;
        if !c.is_whitespace() {
            tokens += 1;
        }
    }
    tokens + run.div_ceil(5)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn sentences(text: &str) -> Vec<&str> {
        sentence_spans(text).into_iter().map(|r| &text[r]).collect()
    }

    #[test]
    fn sentences_end_at_punctuation_and_line_breaks_not_at_abbreviations() {
        assert_eq!(
            sentences("Feed it daily. It doubles in 6.5 hours! Does it? Yes"),
            [
                "Feed it daily.",
                "It doubles in 6.5 hours!",
                "Does it?",
                "Yes"
            ]
        );
        assert_eq!(
            sentences("Use flour, e.g. rye. Dr. Smith agrees.\n# Title\n1. First step\n2. Next"),
            [
                "Use flour, e.g. rye.",
                "Dr. Smith agrees.",
                "# Title",
                "1. First step",
                "2. Next"
            ]
        );
        assert_eq!(
            sentences("It is fed daily [1]. It doubles. [2] Then \"it rises.\" Done."),
            [
                "It is fed daily [1].",
                "It doubles. [2]",
                "Then \"it rises.\"",
                "Done."
            ]
        );
        assert_eq!(
            sentences("J. R. Tolkien wrote it."),
            ["J. R. Tolkien wrote it."]
        );
        // Hard-wrapped lines are one paragraph; list items and paragraphs are not.
        assert_eq!(
            sentences(
                "A starter holds wild yeast and\nlactic acid bacteria. It\nrises.\n\nNext one\n- item one\n- item two"
            ),
            [
                "A starter holds wild yeast and\nlactic acid bacteria.",
                "It\nrises.",
                "Next one",
                "- item one",
                "- item two"
            ]
        );
    }

    #[test]
    fn a_marker_still_being_streamed_keeps_its_sentence_open() {
        assert_eq!(sentences("It is fed daily. [1"), ["It is fed daily. [1"]);
        assert_eq!(
            sentences("It is fed daily. [1] Next"),
            ["It is fed daily. [1]", "Next"]
        );
    }

    #[test]
    fn markers_are_read_removed_and_written_back() {
        assert_eq!(
            strip_markers("Fed daily [1] and weekly [2, 3]."),
            ("Fed daily and weekly.".to_string(), vec![1, 2, 3])
        );
        assert_eq!(
            strip_markers("See [a] and [2-4][2]."),
            ("See [a] and.".to_string(), vec![2, 3, 4])
        );
        assert_eq!(with_markers("Fed daily.", &[2]), "Fed daily [2].");
        assert_eq!(with_markers("Fed daily", &[1, 3]), "Fed daily [1, 3]");
        assert_eq!(with_markers("Fed daily.", &[]), "Fed daily.");
    }

    #[test]
    fn terms_are_lowercased_stemmed_without_stop_words() {
        assert_eq!(
            terms("The starters were Feeding on flours"),
            ["starter", "feed", "flour"]
        );
        assert!(estimate_tokens("sourdough starter") >= 2);
        assert_eq!(estimate_tokens(""), 0);
        assert_eq!(estimate_tokens("a, b."), 4);
    }
}
