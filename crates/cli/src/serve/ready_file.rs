//! The ready file: a small JSON document written atomically once a process is serving, so
//! scripts and tests learn the address of a server started on port 0 without parsing logs.

use serde::Serialize;
use std::path::Path;

#[derive(Debug, Serialize)]
pub struct Ready<'a> {
    /// Base URL (`http://addr`) of what this process serves.
    pub url: String,
    pub service: &'a str,
    pub pid: u32,
    /// Base URL of the service's `/metrics` listener, when it runs one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics_url: Option<String>,
}

/// Writes `ready` to `path` via a temporary file and a rename, so readers never see half of it.
pub fn write(path: &Path, ready: &Ready<'_>) -> anyhow::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, serde_json::to_vec(ready)?)?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}
