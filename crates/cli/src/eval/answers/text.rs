//! Reading an answer's text the way the harness scores it: word tokens, `[n]` citation markers
//! (the gateway's citation syntax, lists such as `[1, 3]` included), and sentences with the
//! markers attached to them. Kept independent of the gateway's own code so the harness checks
//! the product instead of agreeing with it by construction.

/// Lower-cased runs of letters and digits: the tokens every metric here compares.
pub fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// Source numbers of a bracket's content when it is a citation: numbers (or ranges `2-4`)
/// separated by commas, semicolons or spaces. None for anything else (`[a]`, `[95% CI]`).
fn citation_list(content: &str) -> Option<Vec<usize>> {
    let mut numbers = Vec::new();
    for part in content
        .split([',', ';', ' '])
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        if let Some((from, to)) = part.split_once(['-', '–']) {
            let (from, to): (usize, usize) = (from.trim().parse().ok()?, to.trim().parse().ok()?);
            if to < from || to - from > 20 {
                return None;
            }
            numbers.extend(from..=to);
        } else {
            numbers.push(part.parse().ok()?);
        }
    }
    (!numbers.is_empty()).then_some(numbers)
}

/// Byte spans `[start, end)` of every citation bracket in `text`, with its numbers.
fn citation_spans(text: &str) -> Vec<(usize, usize, Vec<usize>)> {
    let mut spans = Vec::new();
    let mut from = 0;
    while let Some(open) = text[from..].find('[').map(|i| i + from) {
        let Some(close) = text[open..].find(']').map(|i| i + open) else {
            break;
        };
        match citation_list(&text[open + 1..close]) {
            Some(numbers) => {
                spans.push((open, close + 1, numbers));
                from = close + 1;
            }
            None => from = open + 1,
        }
    }
    spans
}

/// Every cited source number in order of appearance (repeats kept).
pub fn citations(text: &str) -> Vec<usize> {
    citation_spans(text)
        .into_iter()
        .flat_map(|(_, _, n)| n)
        .collect()
}

/// `text` without its citation markers (for comparing words with a reference).
pub fn strip_citations(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for (start, end, _) in citation_spans(text) {
        out.push_str(&text[last..start]);
        last = end;
    }
    out.push_str(&text[last..]);
    out
}

/// One sentence of an answer: its text (markers included) and the distinct sources it cites.
#[derive(Debug, Clone, PartialEq)]
pub struct Sentence {
    pub text: String,
    pub citations: Vec<usize>,
}

/// Splits an answer into sentences. A sentence ends at `.`, `!` or `?` followed by white space
/// or the end; citation markers right after the punctuation (`... fast. [2] Next`) still belong
/// to the sentence they follow, as do markers before it (`... fast [2].`).
pub fn sentences(text: &str) -> Vec<Sentence> {
    let spans = citation_spans(text);
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    let bytes = text.as_bytes();
    while i < bytes.len() {
        if matches!(bytes[i], b'.' | b'!' | b'?') {
            let mut end = i + 1;
            // Markers (and the spaces before them) right after the punctuation.
            loop {
                let rest = &text[end..];
                let skipped = rest.len() - rest.trim_start().len();
                match spans.iter().find(|(s, _, _)| *s == end + skipped) {
                    Some(&(_, e, _)) => end = e,
                    None => break,
                }
            }
            let at_boundary = text[end..].chars().next().is_none_or(char::is_whitespace);
            if at_boundary {
                push_sentence(&mut out, &text[start..end]);
                start = end;
                i = end;
                continue;
            }
        }
        i += 1;
    }
    push_sentence(&mut out, &text[start..]);
    out
}

fn push_sentence(out: &mut Vec<Sentence>, piece: &str) {
    let piece = piece.trim();
    if words(&strip_citations(piece)).is_empty() {
        return;
    }
    let mut cited = Vec::new();
    for n in citations(piece) {
        if !cited.contains(&n) {
            cited.push(n);
        }
    }
    out.push(Sentence {
        text: piece.to_string(),
        citations: cited,
    });
}

/// Function words left out of the word-overlap support check: they match any passage.
const STOPWORDS: &[&str] = &[
    "a", "about", "after", "all", "also", "an", "and", "any", "are", "as", "at", "be", "been",
    "being", "between", "both", "but", "by", "can", "could", "did", "do", "does", "during", "each",
    "for", "from", "had", "has", "have", "he", "her", "his", "how", "i", "if", "in", "into", "is",
    "it", "its", "may", "might", "more", "most", "no", "not", "of", "on", "or", "other", "our",
    "she", "should", "so", "some", "such", "than", "that", "the", "their", "them", "then", "there",
    "these", "they", "this", "those", "through", "to", "was", "we", "were", "what", "when",
    "where", "which", "while", "who", "whom", "why", "will", "with", "would", "you", "your",
];

/// Distinct words of `text` (markers removed) that carry content: not a stop word.
pub fn content_words(text: &str) -> std::collections::HashSet<String> {
    words(&strip_citations(text))
        .into_iter()
        .filter(|w| !STOPWORDS.contains(&w.as_str()))
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn citations_are_numbers_lists_and_ranges_in_brackets() {
        assert_eq!(
            citations("Fast [1]. Also [2, 3] and [4-5][6]; not [a] nor [95% CI] nor [1.5]."),
            [1, 2, 3, 4, 5, 6]
        );
        assert_eq!(citations("[0] [12]"), [0, 12]);
        assert_eq!(citations("open [1 and never closed"), Vec::<usize>::new());
        assert_eq!(
            strip_citations("It works [1]. Really [2, 3]."),
            "It works . Really ."
        );
    }

    #[test]
    fn sentences_keep_their_markers_wherever_the_model_put_them() {
        let s = sentences("CRP helps [1]. Age matters.[2] Values of 3.5 mg [1][3]! Tail");
        let texts: Vec<&str> = s.iter().map(|s| s.text.as_str()).collect();
        assert_eq!(
            texts,
            [
                "CRP helps [1].",
                "Age matters.[2]",
                "Values of 3.5 mg [1][3]!",
                "Tail"
            ]
        );
        let cited: Vec<Vec<usize>> = s.iter().map(|s| s.citations.clone()).collect();
        assert_eq!(cited, [vec![1], vec![2], vec![1, 3], vec![]]);
        // A marker after the full stop and a space still belongs to the sentence before it.
        let s = sentences("One. [2] Two [1] [1].");
        assert_eq!(s[0].text, "One. [2]");
        assert_eq!(s[0].citations, [2]);
        assert_eq!(s[1].citations, [1]);
        assert!(sentences("  [1]. ").is_empty());
    }

    #[test]
    fn words_are_lower_case_alphanumeric_runs() {
        assert_eq!(
            words("CRP-level: 3.5 mg/L!"),
            ["crp", "level", "3", "5", "mg", "l"]
        );
        let c = content_words("The CRP of the elderly [2].");
        assert!(c.contains("crp") && c.contains("elderly"));
        assert!(!c.contains("the") && !c.contains("2"));
    }
}
