//! Keeps an answer's citations honest: every `[n]` left in the text refers to `sources[n-1]`
//! and to a context the model was really shown (not one packing dropped from the prompt).
//! The model numbers its citations itself and small models invent numbers, so markers outside
//! 1..=n are removed (with the space before them, so no "word ." gaps remain). Lists such as
//! `[1, 2]` keep their valid members; `[1][2]` are two markers; ranges `[1-3]` are kept only
//! when both ends are valid. Brackets that are not citations (`[a]`, `[]`, `[^1]`) are left alone.

/// Longest bracket content considered as a citation list.
const MAX_MARKER_LEN: usize = 40;

/// `answer` with every citation marker outside `1..=sources` removed.
pub fn clean_citations(answer: &str, sources: usize) -> String {
    clean_citations_where(answer, |n| (1..=sources).contains(&n))
}

/// `answer` with every citation marker that does not name a context actually sent to the
/// model removed (packing may have left the lowest-ranked sources out of the prompt).
pub fn clean_citations_sent(answer: &str, sent: &[u32]) -> String {
    clean_citations_where(answer, |n| sent.iter().any(|&s| s as usize == n))
}

/// `answer` keeping only markers whose every number satisfies `allowed`.
fn clean_citations_where(answer: &str, allowed: impl Fn(usize) -> bool) -> String {
    let mut out = String::with_capacity(answer.len());
    let mut rest = answer;
    while let Some(open) = rest.find('[') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let close = after
            .find(']')
            .filter(|&c| c <= MAX_MARKER_LEN && !after[..c].contains('['));
        let Some(close) = close else {
            out.push('[');
            rest = after;
            continue;
        };
        let inner = &after[..close];
        let tail = &after[close + 1..];
        match parse_marker(inner) {
            None => {
                out.push('[');
                out.push_str(inner);
                out.push(']');
            }
            Some(items) => {
                let kept: Vec<&Item> = items.iter().filter(|item| item.valid(&allowed)).collect();
                if kept.is_empty() {
                    drop_space_before_gap(&mut out, tail);
                } else if kept.len() == items.len() {
                    out.push('[');
                    out.push_str(inner);
                    out.push(']');
                } else {
                    let parts: Vec<String> = kept.iter().map(|item| item.to_string()).collect();
                    out.push('[');
                    out.push_str(&parts.join(", "));
                    out.push(']');
                }
            }
        }
        rest = tail;
    }
    out.push_str(rest);
    out
}

/// After removing a marker: drop the space before it when the text goes on with punctuation,
/// another space or nothing ("Paris [9]." → "Paris.", "Paris [9] is" → "Paris is").
fn drop_space_before_gap(out: &mut String, tail: &str) {
    let next = tail.chars().next();
    let gap_closes = next
        .is_none_or(|c| c.is_whitespace() || matches!(c, '.' | ',' | ';' | ':' | '!' | '?' | ')'));
    if gap_closes && out.ends_with(' ') {
        out.pop();
    }
}

#[derive(Debug, PartialEq)]
enum Item {
    One(usize),
    Range(usize, usize),
}

impl Item {
    /// Every number it names is allowed (ranges are short: the marker is at most 40 chars,
    /// but its numbers may be large, so a range is checked end to end only when small).
    fn valid(&self, allowed: &impl Fn(usize) -> bool) -> bool {
        match *self {
            Item::One(n) => allowed(n),
            Item::Range(a, b) => a <= b && b - a <= 64 && (a..=b).all(allowed),
        }
    }
}

impl std::fmt::Display for Item {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Item::One(n) => write!(f, "{n}"),
            Item::Range(a, b) => write!(f, "{a}-{b}"),
        }
    }
}

/// `1`, `1, 2`, `1,2`, `2-4`: numbers separated by commas or semicolons. None when `inner`
/// is anything else.
fn parse_marker(inner: &str) -> Option<Vec<Item>> {
    let number = |s: &str| -> Option<usize> {
        let s = s.trim();
        (!s.is_empty() && s.len() <= 6 && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())?
    };
    let mut items = Vec::new();
    for part in inner.split([',', ';']) {
        let item = match part.split_once(['-', '–']) {
            Some((a, b)) => Item::Range(number(a)?, number(b)?),
            None => Item::One(number(part)?),
        };
        items.push(item);
    }
    Some(items)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn valid_markers_stay_and_out_of_range_ones_go() {
        assert_eq!(
            clean_citations("Lava lakes form [1]. Kilauea [2] too.", 5),
            "Lava lakes form [1]. Kilauea [2] too."
        );
        assert_eq!(clean_citations("Paris [7].", 5), "Paris.");
        assert_eq!(
            clean_citations("Paris [0] is big [12], yes", 5),
            "Paris is big, yes"
        );
        assert_eq!(clean_citations("[9]Start", 5), "Start");
        assert_eq!(clean_citations("end [6]", 5), "end");
        assert_eq!(
            clean_citations("Feed it daily [5].", 5),
            "Feed it daily [5]."
        );
        assert_eq!(clean_citations("no sources [1]", 0), "no sources");
    }

    #[test]
    fn lists_and_adjacent_markers_keep_their_valid_members() {
        assert_eq!(clean_citations("x [1, 2]", 5), "x [1, 2]");
        assert_eq!(clean_citations("x [1,7, 3]", 5), "x [1, 3]");
        assert_eq!(clean_citations("x [8, 9].", 5), "x.");
        assert_eq!(clean_citations("x [1][2][9].", 5), "x [1][2].");
        assert_eq!(clean_citations("x [9][2].", 5), "x [2].");
        assert_eq!(clean_citations("x [2-4] y [4-9]", 5), "x [2-4] y");
    }

    #[test]
    fn only_contexts_really_sent_may_be_cited() {
        // Five sources, but packing sent only the first three to the model.
        assert_eq!(
            clean_citations_sent("A [1]. B [4]. C [2, 5]. D [1-3] E [2-4].", &[1, 2, 3]),
            "A [1]. B. C [2]. D [1-3] E."
        );
        assert_eq!(
            clean_citations_sent("nothing was sent [1].", &[]),
            "nothing was sent."
        );
    }

    #[test]
    fn brackets_that_are_not_citations_are_untouched() {
        for text in [
            "a [b] c",
            "[] x",
            "see [^1]",
            "[1a]",
            "arr[i]",
            "[ unterminated",
            "]",
            "[[1]]",
            "[-1]",
        ] {
            assert_eq!(clean_citations(text, 5), text, "{text}");
        }
        assert_eq!(clean_citations("ünïcödé [3] ✓ [40]", 3), "ünïcödé [3] ✓");
    }
}
