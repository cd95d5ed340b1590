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
    // Overlapping chunks repeat sentences, whole or cut: one that contains, or is contained
    // in, a sentence already taken is not taken again.
    let mut taken: Vec<String> = Vec::new();
    let mut out = Vec::new();
    for i in ranked {
        if out.len() == n {
            break;
        }
        let text = candidates[i].text.to_lowercase();
        let text = text.trim_end_matches(['.', '!', '?']);
        if taken
            .iter()
            .any(|t| t.contains(text) || text.contains(t.as_str()))
        {
            continue;
        }
        taken.push(text.to_string());
        out.push(i);
    }
    out
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
}
