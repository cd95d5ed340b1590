//! The completion marker of a model directory. It is written last, after every file was
//! unpacked and checked, so its presence means "complete"; it records each file's size and
//! sha256 so a later check also catches files damaged or replaced after the fetch.

use crate::ModelPackage;
use crate::error::ModelsError;
use crate::record::sha256_of;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

/// File name of the marker inside a model directory.
pub const MARKER_FILE: &str = ".ragmesh-model.json";

/// What a completed fetch wrote into the model directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelMarker {
    pub package: String,
    pub version: String,
    /// File name of the wheel the files came from.
    pub wheel: String,
    /// sha256 of that wheel (hex), as the index published it.
    pub wheel_sha256: String,
    /// Every unpacked file, by path relative to the model directory.
    pub files: BTreeMap<String, MarkerFile>,
}

/// Size and sha256 (hex) of one unpacked file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MarkerFile {
    pub sha256: String,
    pub size: u64,
}

impl ModelMarker {
    /// Writes the marker into `model_dir` through a temporary file and a rename, so a crash
    /// leaves either no marker or a whole one.
    pub(crate) fn write_into(&self, model_dir: &Path) -> Result<(), ModelsError> {
        let json = serde_json::to_vec_pretty(self)
            .map_err(|e| ModelsError::Task(format!("cannot encode marker: {e}")))?;
        let tmp = model_dir.join(format!("{MARKER_FILE}.tmp"));
        let mut file = std::fs::File::create(&tmp).map_err(ModelsError::io(&tmp))?;
        file.write_all(&json).map_err(ModelsError::io(&tmp))?;
        file.sync_all().map_err(ModelsError::io(&tmp))?;
        let dest = model_dir.join(MARKER_FILE);
        std::fs::rename(&tmp, &dest).map_err(ModelsError::io(&dest))
    }
}

/// Checks the model directory of `package` inside `models_dir`: the marker must exist, name
/// this package and version, list exactly the expected files, and every file must still have
/// the recorded size and sha256. Returns the marker, or why the model is not usable.
pub fn check_model(models_dir: &Path, package: &ModelPackage) -> Result<ModelMarker, String> {
    let dir = models_dir.join(package.dir_name);
    let marker_path = dir.join(MARKER_FILE);
    let text = std::fs::read(&marker_path)
        .map_err(|e| format!("no marker {}: {e}", marker_path.display()))?;
    let marker: ModelMarker = serde_json::from_slice(&text)
        .map_err(|e| format!("unreadable marker {}: {e}", marker_path.display()))?;
    if marker.package != package.name || marker.version != package.version {
        return Err(format!(
            "marker is for {}=={}, expected {}=={}",
            marker.package, marker.version, package.name, package.version
        ));
    }
    let listed: Vec<&str> = marker.files.keys().map(String::as_str).collect();
    let mut expected: Vec<&str> = package.files.to_vec();
    expected.sort_unstable();
    if listed != expected {
        return Err(format!("marker lists {listed:?}, expected {expected:?}"));
    }
    for (name, want) in &marker.files {
        let path = dir.join(name);
        let file = std::fs::File::open(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let len = file
            .metadata()
            .map_err(|e| format!("{}: {e}", path.display()))?
            .len();
        if len != want.size {
            return Err(format!(
                "{}: {len} bytes, marker says {}",
                path.display(),
                want.size
            ));
        }
        let (digest, _) = sha256_of(file).map_err(|e| format!("{}: {e}", path.display()))?;
        if hex::encode(digest) != want.sha256 {
            return Err(format!(
                "{}: content changed since the fetch (sha256 differs)",
                path.display()
            ));
        }
    }
    Ok(marker)
}
