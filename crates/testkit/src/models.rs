//! The default models for tests, fetched by the project's own fetcher when missing.

use std::path::PathBuf;

/// Directory holding the default models (`RAGMESH_MODELS_DIR` or `~/.cache/ragmesh/models`).
/// Panics with an actionable message when they are not there.
pub fn models_dir() -> PathBuf {
    let dir = ragmesh_config::default_models_dir();
    assert!(
        dir.join("all-MiniLM-L6-v2/model.safetensors").is_file(),
        "models missing in {}: run `cargo run -- models fetch`",
        dir.display()
    );
    dir
}
