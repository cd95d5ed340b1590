//! The exact-match form of a query: two questions that differ only in Unicode form, case,
//! spacing or trailing punctuation are the same question, so they share one exact cache key
//! and need no embedding at all.

use unicode_normalization::UnicodeNormalization;

/// NFKC, case-folded (Unicode lowercase), runs of whitespace collapsed to one space, leading
/// and trailing whitespace removed, and trailing punctuation (`?`, `!`, `.`, `…`, `;`, `:`,
/// `,` and the full-width forms NFKC leaves) trimmed.
pub fn normalize_query(query: &str) -> String {
    // ASCII is its own NFKC form and its Unicode lowercase is its ASCII lowercase; skipping the
    // normaliser for it (most queries) makes this ~10x cheaper on every cache lookup.
    let folded: String = if query.is_ascii() {
        query.to_ascii_lowercase()
    } else {
        query.nfkc().flat_map(char::to_lowercase).collect()
    };
    let mut out = String::with_capacity(folded.len());
    for word in folded.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    let trimmed_len = out
        .trim_end_matches(|c: char| is_trailing_punctuation(c) || c.is_whitespace())
        .len();
    out.truncate(trimmed_len);
    out
}

fn is_trailing_punctuation(c: char) -> bool {
    matches!(
        c,
        '?' | '!' | '.' | '…' | ';' | ':' | ',' | '¿' | '¡' | '。' | '？' | '！'
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_spacing_unicode_form_and_trailing_punctuation_do_not_matter() {
        let a = normalize_query("  What   is  RRF?? ");
        assert_eq!(a, "what is rrf");
        assert_eq!(normalize_query("what is rrf"), a);
        assert_eq!(normalize_query("WHAT\tIS\nRRF ?!."), a);
        // NFKC: full-width letters and the "ﬁ" ligature become their plain forms.
        assert_eq!(normalize_query("ＷＨＡＴ is ﬁne？"), "what is fine");
        // Composed and decomposed é are one query.
        assert_eq!(normalize_query("caf\u{e9}"), normalize_query("cafe\u{301}"));
    }

    #[test]
    fn the_ascii_shortcut_folds_like_the_unicode_path() {
        for query in [
            "  What   is  RRF?? ",
            "WHAT\tIS\nRRF ?!.",
            "Is 3.5 > 3?",
            "A_b-C [x] {y}",
        ] {
            let unicode: String = query.nfkc().flat_map(char::to_lowercase).collect();
            assert_eq!(query.to_ascii_lowercase(), unicode, "{query:?}");
        }
    }

    #[test]
    fn punctuation_inside_the_query_and_numbers_are_kept() {
        assert_eq!(normalize_query("Is 3.5 > 3?"), "is 3.5 > 3");
        assert_eq!(normalize_query("e4 c5, then Nf3?"), "e4 c5, then nf3");
        assert_eq!(normalize_query("Why not?"), "why not");
        assert_ne!(normalize_query("version 2"), normalize_query("version 3"));
        assert_eq!(normalize_query("???"), "");
    }
}
