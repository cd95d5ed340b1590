//! Parity of the candle cross-encoder with transformers' BertForSequenceClassification:
//! logits frozen by tests/fixtures/make_checkpoint.py on a tiny random checkpoint of the
//! ms-marco-MiniLM-L-6-v2 layout must be reproduced to 1e-4, at several max_lengths and
//! through both truncation paths.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use ragmesh_crossencoder::{CrossEncoder, CrossEncoderError};
use std::path::{Path, PathBuf};

const TOLERANCE: f32 = 1e-4;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

struct ReferenceSet {
    max_length: usize,
    query: String,
    passages: Vec<String>,
    logits: Vec<f32>,
}

fn reference_sets(path: &Path) -> Vec<ReferenceSet> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    json["sets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|set| ReferenceSet {
            max_length: set["max_length"].as_u64().unwrap() as usize,
            query: set["query"].as_str().unwrap().to_string(),
            passages: set["passages"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p.as_str().unwrap().to_string())
                .collect(),
            logits: set["logits"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap() as f32)
                .collect(),
        })
        .collect()
}

/// Scores every reference set with the checkpoint in `dir`; returns the largest |difference|.
fn max_difference(dir: &Path, reference: &[ReferenceSet], batch_size: usize) -> f32 {
    let mut worst = 0f32;
    for set in reference {
        let encoder = CrossEncoder::load(dir, set.max_length)
            .unwrap()
            .with_batch_size(batch_size);
        let passages: Vec<&str> = set.passages.iter().map(String::as_str).collect();
        let scores = encoder.score(&set.query, &passages).unwrap();
        assert_eq!(scores.len(), set.logits.len());
        for (got, want) in scores.iter().zip(&set.logits) {
            worst = worst.max((got - want).abs());
        }
    }
    worst
}

#[test]
fn logits_match_transformers_on_the_tiny_checkpoint() {
    let reference = reference_sets(&fixtures().join("reference_logits.json"));
    let dir = fixtures().join("tiny-cross-encoder");
    // The reference covers 512-token truncation, only_second at 48 and longest_first at 32.
    assert!(
        reference
            .iter()
            .any(|s| s.max_length == 512 && s.passages.iter().any(|p| p.len() > 3000))
    );
    for batch_size in [16, 1, 3] {
        let worst = max_difference(&dir, &reference, batch_size);
        eprintln!(
            "tiny checkpoint, batch size {batch_size}: max |candle - transformers| = {worst:e}"
        );
        assert!(
            worst <= TOLERANCE,
            "batch size {batch_size}: max difference {worst}"
        );
    }
}

#[test]
fn scores_follow_the_callers_order_and_the_name_is_the_directory() {
    let dir = fixtures().join("tiny-cross-encoder");
    let encoder = CrossEncoder::load(&dir, 512).unwrap();
    assert_eq!(encoder.name(), "tiny-cross-encoder");
    let passages = [
        "Paris is the capital and most populous city of France.",
        "Bananas are rich in potassium.",
    ];
    let forward = encoder
        .score("what is the capital of france", &passages)
        .unwrap();
    let reversed = encoder
        .score("what is the capital of france", &[passages[1], passages[0]])
        .unwrap();
    assert!((forward[0] - reversed[1]).abs() <= 1e-6 && (forward[1] - reversed[0]).abs() <= 1e-6);
    assert_ne!(forward[0], forward[1]);
    assert!(encoder.score("anything", &[]).unwrap().is_empty());
}

#[test]
fn max_length_is_capped_by_the_position_embeddings() {
    let encoder = CrossEncoder::load(&fixtures().join("tiny-cross-encoder"), 4096).unwrap();
    assert_eq!(encoder.max_length(), 512);
    let err = CrossEncoder::load(&fixtures().join("tiny-cross-encoder"), 2).unwrap_err();
    assert!(
        matches!(err, CrossEncoderError::MaxLengthTooSmall(2)),
        "{err}"
    );
}

/// A checkpoint saved from the inner BertModel (no `bert.` prefix) loads to the same logits.
#[test]
fn bare_weight_names_load_like_prefixed_ones() {
    let source = fixtures().join("tiny-cross-encoder");
    let bare = tempfile::tempdir().unwrap();
    let tensors =
        candle_core::safetensors::load(source.join("model.safetensors"), &candle_core::Device::Cpu)
            .unwrap();
    assert!(
        tensors.keys().any(|k| k.starts_with("bert.")),
        "fixture should use the HF prefixed layout"
    );
    let renamed: std::collections::HashMap<String, candle_core::Tensor> = tensors
        .into_iter()
        .map(|(name, t)| (name.strip_prefix("bert.").unwrap_or(&name).to_string(), t))
        .collect();
    candle_core::safetensors::save(&renamed, bare.path().join("model.safetensors")).unwrap();
    for file in ["config.json", "tokenizer.json"] {
        std::fs::copy(source.join(file), bare.path().join(file)).unwrap();
    }
    let reference = reference_sets(&fixtures().join("reference_logits.json"));
    let worst = max_difference(bare.path(), &reference, 16);
    assert!(worst <= TOLERANCE, "bare names: max difference {worst}");
}

#[test]
fn a_missing_or_incomplete_directory_is_refused() {
    let empty = tempfile::tempdir().unwrap();
    let err = CrossEncoder::load(empty.path(), 512).unwrap_err();
    assert!(
        err.to_string().contains("model.safetensors is missing"),
        "{err}"
    );
    let err = CrossEncoder::load(&empty.path().join("nope"), 512).unwrap_err();
    assert!(err.to_string().contains("not a directory"), "{err}");
}

/// The full ms-marco-MiniLM-L-6-v2 shape: run after
/// `make_checkpoint.py --full DIR` with `RAGMESH_FULL_CROSS_ENCODER_DIR=DIR`
/// (`cargo test -p ragmesh-crossencoder --test parity -- --ignored`).
#[test]
#[ignore = "needs a full-shape checkpoint generated with make_checkpoint.py --full"]
fn logits_match_transformers_on_a_full_shape_checkpoint() {
    let dir = PathBuf::from(
        std::env::var_os("RAGMESH_FULL_CROSS_ENCODER_DIR")
            .expect("set RAGMESH_FULL_CROSS_ENCODER_DIR"),
    );
    let reference = reference_sets(&dir.join("reference_logits.json"));
    let worst = max_difference(&dir, &reference, 16);
    eprintln!("full-shape checkpoint: max |candle - transformers| = {worst:e}");
    assert!(worst <= TOLERANCE, "max difference {worst}");
}
