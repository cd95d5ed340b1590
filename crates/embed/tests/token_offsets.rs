//! `Embedder::token_offsets`: the word pieces the chunker cuts on must point at real, in-order
//! byte ranges of the original text, including after lower-casing and accent stripping.

#![allow(clippy::unwrap_used)]

use ragmesh_embed::Embedder;

fn embedder() -> Embedder {
    Embedder::load(&ragmesh_models::embedding_model_dir(
        &ragmesh_testkit::models_dir(),
    ))
    .unwrap()
}

#[test]
fn offsets_slice_real_substrings_in_order() {
    let embedder = embedder();
    let text = "Tokenization of CAFÉ déjà-vu: 12,345 ÜBER naïve 日本語 🚀 unbelievably!";
    let offsets = embedder.token_offsets(text).unwrap();
    assert!(offsets.len() > 15, "{offsets:?}");
    let mut previous_end = 0;
    let mut pieces = Vec::new();
    for &(start, end) in &offsets {
        assert!(start < end, "empty piece at {start}");
        assert!(
            start >= previous_end,
            "pieces overlap or go backwards: {offsets:?}"
        );
        let piece = text
            .get(start..end)
            .unwrap_or_else(|| panic!("{start}..{end} is not on char boundaries"));
        assert!(
            !piece.trim().is_empty(),
            "piece {start}..{end} is only whitespace"
        );
        pieces.push(piece);
        previous_end = end;
    }
    // Sub-words of one word are consecutive slices of it ("unbelievably" → "un", "##bel", …).
    assert!(
        pieces.contains(&"CAF") || pieces.contains(&"CAFÉ"),
        "{pieces:?}"
    );
    assert!(
        pieces.contains(&"日"),
        "CJK characters are single pieces: {pieces:?}"
    );
    let joined: String = pieces.concat();
    let without_space: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    assert_eq!(
        joined, without_space,
        "pieces must cover every non-space character"
    );
}

#[test]
fn count_grows_with_text_and_is_not_truncated() {
    let embedder = embedder();
    let sentence = "Retrieval merges vector and keyword search with reciprocal rank fusion. ";
    let one = embedder.token_offsets(sentence).unwrap().len();
    let many = embedder.token_offsets(&sentence.repeat(40)).unwrap().len();
    assert!(one > 5);
    assert_eq!(
        many,
        one * 40,
        "no truncation at {} pieces",
        embedder.max_tokens()
    );
    assert!(many > embedder.max_tokens());
    assert!(embedder.token_offsets("").unwrap().is_empty());
    assert!(embedder.token_offsets("   \n\t ").unwrap().is_empty());
}
