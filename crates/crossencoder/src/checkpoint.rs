//! Finds the files of a cross-encoder directory and loads its weights under one naming.
//!
//! HF checkpoints of `BertForSequenceClassification` name the encoder `bert.embeddings...`,
//! `bert.encoder...`, `bert.pooler.dense` next to a bare `classifier`; exports that saved the
//! inner `BertModel` drop the `bert.` prefix, and old TF conversions say `gamma`/`beta` for
//! LayerNorm. All of them are normalised here to bare names with `weight`/`bias`, so the
//! model code reads one layout.

use crate::CrossEncoderError;
use candle_core::{Device, Tensor};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The three files a cross-encoder directory must hold.
#[derive(Debug)]
pub(crate) struct CheckpointFiles {
    pub config: PathBuf,
    pub weights: PathBuf,
    pub tokenizer: PathBuf,
}

impl CheckpointFiles {
    pub fn locate(dir: &Path) -> Result<CheckpointFiles, CrossEncoderError> {
        if !dir.is_dir() {
            return Err(CrossEncoderError::Io {
                path: dir.to_path_buf(),
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "not a directory"),
            });
        }
        let weights = dir.join("model.safetensors");
        if !weights.is_file() {
            if dir.join("pytorch_model.bin").is_file() {
                return Err(CrossEncoderError::SafetensorsRequired(dir.to_path_buf()));
            }
            return Err(CrossEncoderError::MissingFile {
                dir: dir.to_path_buf(),
                file: "model.safetensors",
            });
        }
        let required = |file: &'static str| {
            let path = dir.join(file);
            if path.is_file() {
                Ok(path)
            } else {
                Err(CrossEncoderError::MissingFile {
                    dir: dir.to_path_buf(),
                    file,
                })
            }
        };
        Ok(CheckpointFiles {
            config: required("config.json")?,
            weights,
            tokenizer: required("tokenizer.json")?,
        })
    }
}

/// Loads every tensor of `path` with the names normalised (see the module header).
pub(crate) fn load_tensors(
    path: &Path,
    device: &Device,
) -> Result<HashMap<String, Tensor>, CrossEncoderError> {
    let weights_error = |message: String| CrossEncoderError::Weights {
        path: path.to_path_buf(),
        message,
    };
    let tensors =
        candle_core::safetensors::load(path, device).map_err(|e| weights_error(e.to_string()))?;
    let normalised: HashMap<String, Tensor> = tensors
        .into_iter()
        .map(|(name, tensor)| (normalise_name(&name), tensor))
        .collect();
    for required in [
        "embeddings.word_embeddings.weight",
        "pooler.dense.weight",
        "classifier.weight",
    ] {
        if !normalised.contains_key(required) {
            let mut names: Vec<&str> = normalised.keys().map(String::as_str).collect();
            names.sort_unstable();
            names.truncate(8);
            return Err(weights_error(format!(
                "no tensor {required} (nor bert.{required}); not a BERT sequence classifier? first names: {names:?}"
            )));
        }
    }
    Ok(normalised)
}

fn normalise_name(name: &str) -> String {
    let bare = name.strip_prefix("bert.").unwrap_or(name);
    if let Some(stem) = bare.strip_suffix(".gamma") {
        format!("{stem}.weight")
    } else if let Some(stem) = bare.strip_suffix(".beta") {
        format!("{stem}.bias")
    } else {
        bare.to_string()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn names_are_normalised_to_one_layout() {
        assert_eq!(
            normalise_name("bert.embeddings.word_embeddings.weight"),
            "embeddings.word_embeddings.weight"
        );
        assert_eq!(
            normalise_name("embeddings.LayerNorm.gamma"),
            "embeddings.LayerNorm.weight"
        );
        assert_eq!(
            normalise_name("bert.encoder.layer.0.output.LayerNorm.beta"),
            "encoder.layer.0.output.LayerNorm.bias"
        );
        assert_eq!(
            normalise_name("bert.pooler.dense.bias"),
            "pooler.dense.bias"
        );
        assert_eq!(normalise_name("classifier.weight"), "classifier.weight");
    }

    #[test]
    fn a_directory_with_only_pytorch_weights_gets_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("pytorch_model.bin"), b"x").unwrap();
        let err = CheckpointFiles::locate(dir.path()).unwrap_err();
        assert!(
            matches!(err, CrossEncoderError::SafetensorsRequired(_)),
            "{err}"
        );
        assert!(err.to_string().contains("model.safetensors is required"));

        std::fs::write(dir.path().join("model.safetensors"), b"x").unwrap();
        let err = CheckpointFiles::locate(dir.path()).unwrap_err();
        assert!(err.to_string().contains("config.json is missing"), "{err}");
    }
}
