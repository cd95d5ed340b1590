//! all-MiniLM-L6-v2 on candle against vectors frozen from sentence-transformers
//! (fixtures/make_reference.py): every component within 1e-5, truncation included.

#![allow(clippy::unwrap_used)]

use ragmesh_embed::Embedder;
use std::sync::OnceLock;

#[derive(serde::Deserialize)]
struct Reference {
    max_seq_length: usize,
    texts: Vec<String>,
    token_counts: Vec<usize>,
    embeddings: Vec<Vec<f32>>,
}

fn reference() -> Reference {
    let text = include_str!("fixtures/reference_embeddings.json");
    serde_json::from_str(text).unwrap()
}

fn embedder() -> &'static Embedder {
    static EMBEDDER: OnceLock<Embedder> = OnceLock::new();
    EMBEDDER.get_or_init(|| {
        Embedder::load(&ragmesh_models::embedding_model_dir(
            &ragmesh_testkit::models_dir(),
        ))
        .unwrap()
    })
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn batch_embeddings_match_sentence_transformers_to_1e5() {
    let reference = reference();
    let embedder = embedder();
    assert_eq!(embedder.dim(), 384);
    assert_eq!(embedder.max_tokens(), reference.max_seq_length);
    assert_eq!(embedder.model_name(), "all-MiniLM-L6-v2");
    assert!(
        reference
            .token_counts
            .iter()
            .any(|&n| n > embedder.max_tokens()),
        "the fixture must contain a text that gets truncated"
    );

    let texts: Vec<&str> = reference.texts.iter().map(String::as_str).collect();
    let vectors = embedder.embed(&texts).unwrap();
    assert_eq!(vectors.len(), texts.len());
    let mut worst = (0.0f32, 0usize);
    for (i, (got, want)) in vectors.iter().zip(&reference.embeddings).enumerate() {
        let diff = max_abs_diff(got, want);
        assert!(
            diff < 1e-5,
            "text {i} ({:?}): max abs diff {diff:e}",
            texts[i]
        );
        let norm: f32 = got.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5, "text {i}: norm {norm}");
        if diff > worst.0 {
            worst = (diff, i);
        }
    }
    eprintln!(
        "max abs diff vs sentence-transformers: {:e} (text {})",
        worst.0, worst.1
    );
}

#[test]
fn a_text_embeds_the_same_alone_and_in_a_batch_with_longer_texts() {
    let reference = reference();
    let embedder = embedder();
    for i in [0, 3, 6, 10] {
        let alone = embedder.embed(&[reference.texts[i].as_str()]).unwrap();
        let diff = max_abs_diff(&alone[0], &reference.embeddings[i]);
        assert!(diff < 1e-5, "text {i} alone: max abs diff {diff:e}");
    }
}

#[test]
fn word_piece_counts_match_the_python_tokenizer() {
    let reference = reference();
    let embedder = embedder();
    for (text, &count) in reference.texts.iter().zip(&reference.token_counts) {
        // The Python count includes [CLS] and [SEP]; token_offsets has no special tokens.
        assert_eq!(
            embedder.token_offsets(text).unwrap().len() + 2,
            count,
            "{text:?}"
        );
    }
}

#[test]
fn empty_input_gives_empty_output_and_similar_texts_are_closer() {
    let embedder = embedder();
    assert!(embedder.embed(&[]).unwrap().is_empty());
    let v = embedder
        .embed(&[
            "How do I bake bread?",
            "A recipe for baking a loaf of bread",
            "Stock market news today",
        ])
        .unwrap();
    let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
    assert!(
        dot(&v[0], &v[1]) > dot(&v[0], &v[2]) + 0.2,
        "{} vs {}",
        dot(&v[0], &v[1]),
        dot(&v[0], &v[2])
    );
}
