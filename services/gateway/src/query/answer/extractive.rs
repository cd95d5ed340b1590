//! The extractive answer: the best source sentences for the question, each with its `[n]`,
//! and no model call — for users who want no generation risk, or have no generation capacity.
//! It costs what passage selection costs (one `Embed` call over the candidate sentences), and is
//! only made when asked for: generation being down stays a 503 in `generate` mode.

use crate::query::answer::passages::Candidate;
use std::collections::HashSet;

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
    let mut seen = HashSet::new();
    ranked
        .into_iter()
        .filter(|&i| seen.insert(candidates[i].text.to_lowercase()))
        .take(n)
        .collect()
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
        // The same sentence in another source is not repeated.
        all.push(crate::query::answer::passages::tests::source(
            4,
            "Bakers feed a starter every twelve hours at room temperature.",
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
        assert_ne!(c[best[1]].text, c[best[0]].text);
        assert!(best_sentences(&c, 0).is_empty());
    }
}
