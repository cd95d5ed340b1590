//! `ragmesh models fetch|status`, and the check `up` runs before starting: models that are
//! missing or fail verification are fetched from the package index.

use crate::args::{ModelsArgs, ModelsCommand};
use ragmesh_config::Settings;
use std::io::Write;
use std::path::{Path, PathBuf};

pub async fn run(config: Option<&Path>, args: ModelsArgs) -> anyhow::Result<()> {
    let settings = Settings::load(config)?;
    match args.command {
        ModelsCommand::Fetch(a) => {
            let dir = a
                .dir
                .models_dir
                .unwrap_or_else(|| settings.models.dir.clone());
            let index = a
                .index_url
                .unwrap_or_else(|| settings.models.index_url.clone());
            let report = ragmesh_models::fetch_models(&dir, &index, !a.quiet).await?;
            writeln!(std::io::stdout().lock(), "{report}")?;
        }
        ModelsCommand::Status(a) => {
            let dir: PathBuf = a.models_dir.unwrap_or_else(|| settings.models.dir.clone());
            let missing = ragmesh_models::missing_models(&dir);
            let mut out = std::io::stdout().lock();
            writeln!(out, "models directory: {}", dir.display())?;
            if missing.is_empty() {
                writeln!(out, "all models present and verified")?;
            } else {
                for m in missing {
                    writeln!(out, "missing: {m}")?;
                }
            }
        }
    }
    Ok(())
}

/// Fetches the default models into `dir` when any is missing or unverified.
pub async fn ensure_models(dir: &Path, index_url: &str) -> anyhow::Result<()> {
    if ragmesh_models::missing_models(dir).is_empty() {
        return Ok(());
    }
    tracing::info!(dir = %dir.display(), "fetching models (first run)");
    ragmesh_models::fetch_models(dir, index_url, true).await?;
    Ok(())
}
