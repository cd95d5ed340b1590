//! The extractive answer: the best source sentences for the question, each with its `[n]`,
//! and no model call — for users who want no generation risk, or have no generation capacity.
//! It costs what passage selection costs (one `Embed` call over the candidate sentences), and is
//! only made when asked for: generation being down stays a 503 in `generate` mode.

use crate::query::answer::passages::Candidate;

/// Positions (in `candidates`) of the best `n` distinct sentences with some relevance, best
/// first: the order the answer gives them in.
pub fn best_sentences(candidates: &[Candidate], n: usize) -> Vec<usize> {
    let mut ranked: Vec<usize> = (0..candidates.len())
        .filter(|&i| candidates[i].score > 0.0)
        .collect();
    ranked.sort_by(|&a, &b| {
        candidates[b]
            .score
            .total_cmp(&candidates[a].score)
            .then(candidates[a].index.cmp(&candidates[b].index))
            .then(candidates[a].order.cmp(&candidates[b].order))
    });
    // Overlapping chunks repeat sentences, whole or cut, and long sentences are cut into
    // overlapping windows: a sentence whose words are contained in one already taken (or
    // contain it), or that shares a run of SHARED_RUN words with one, is not taken again.
    let mut taken: Vec<Vec<String>> = Vec::new();
    let mut out = Vec::new();
    for i in ranked {
        if out.len() == n {
            break;
        }
        let text = words(&candidates[i].text);
        if text.is_empty() || taken.iter().any(|t| repeats(t, &text)) {
            continue;
        }
        taken.push(text);
        out.push(i);
    }
    out
}

/// Words that make two sentences one repeated passage: the span a reader notices (and the
/// answers harness counts as degenerate).
const SHARED_RUN: usize = 10;

/// Lower-case alphanumeric words: line breaks, punctuation and case do not make a sentence new.
fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// `b` repeats `a`: one's words are a contiguous part of the other's, or both share a run of
/// [`SHARED_RUN`] words.
fn repeats(a: &[String], b: &[String]) -> bool {
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    if short.is_empty() {
        return true;
    }
    if long.windows(short.len()).any(|w| w == short) {
        return true;
    }
    short.len() >= SHARED_RUN
        && short
            .windows(SHARED_RUN)
            .any(|run| long.windows(SHARED_RUN).any(|w| w == run))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::query::answer::passages::tests::sources;
    use crate::query::answer::passages::{candidates, combine_scores, score_lexical};

    #[test]
    fn the_best_sentences_come_first_each_once() {
        let mut all = sources();
        // The same sentence in another source, whole or cut, is not repeated.
        all.push(crate::query::answer::passages::tests::source(
            4,
            "Bakers feed a starter every twelve hours at room temperature.",
        ));
        all.push(crate::query::answer::passages::tests::source(
            5,
            "Bakers feed a starter every twelve hours",
        ));
        let mut c = candidates(&all);
        score_lexical("How often is a starter fed at room temperature?", &mut c);
        combine_scores(&mut c, &[]);
        let best = best_sentences(&c, 2);
        assert_eq!(best.len(), 2);
        assert_eq!(
            (c[best[0]].index, c[best[0]].text.as_str()),
            (
                2,
                "Bakers feed a starter every twelve hours at room temperature."
            )
        );
        assert!(
            !c[best[0]].text.contains(c[best[1]].text.as_str()),
            "{:?}",
            c[best[1]]
        );
        assert!(best_sentences(&c, 0).is_empty());
    }

    #[test]
    fn sentences_sharing_a_long_run_of_words_are_one_passage() {
        let w = |t: &str| words(t);
        // Windows of one long sentence overlap by more than SHARED_RUN words.
        assert!(repeats(
            &w("the patients who received the drug for twelve weeks had fewer relapses than"),
            &w("received the drug for twelve weeks had fewer relapses than the placebo group did")
        ));
        // The same sentence broken over lines in another chunk.
        assert!(repeats(
            &w("Bakers feed a starter\nevery twelve hours."),
            &w("bakers feed a starter every twelve hours")
        ));
        // Sentences about the same thing in other words are two sentences.
        assert!(!repeats(
            &w("Bakers feed a starter every twelve hours at room temperature."),
            &w("A starter kept in the refrigerator is fed once a week.")
        ));
        // Nine shared words are not a repeat.
        assert!(!repeats(
            &w("one two three four five six seven eight nine ten"),
            &w("zero one two three four five six seven eight nine eleven")
        ));
    }
}
