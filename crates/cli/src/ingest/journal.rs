//! The resume journal of `ragmesh ingest`: which files the gateway has acknowledged, keyed by
//! their source name (the path relative to the folder given) with the sha256 of the content
//! that was sent. A re-run skips a file whose name and content hash are recorded, and sends a
//! file whose content changed. It is a small JSON file, rewritten atomically (temporary file,
//! fsync, rename) after every acknowledged batch, so a run stopped at any point resumes from
//! the last acknowledgement.

use anyhow::Context;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Version of the file layout; a journal of another version is ignored.
const VERSION: u32 = 1;

#[derive(Debug, Serialize, Deserialize)]
pub struct Journal {
    version: u32,
    gateway: String,
    collection: String,
    /// source → sha256 (hex) of the acknowledged content.
    acknowledged: BTreeMap<String, String>,
    #[serde(skip)]
    path: PathBuf,
}

impl Journal {
    /// The journal at `path`; an empty one when the file is absent, or when `restart` is set.
    /// A journal written for another gateway or collection is refused: it would skip files the
    /// target never received.
    pub fn open(
        path: &Path,
        gateway: &str,
        collection: &str,
        restart: bool,
    ) -> anyhow::Result<Journal> {
        let empty = Journal {
            version: VERSION,
            gateway: gateway.to_string(),
            collection: collection.to_string(),
            acknowledged: BTreeMap::new(),
            path: path.to_path_buf(),
        };
        if restart {
            return Ok(empty);
        }
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(empty),
            Err(e) => {
                return Err(e).with_context(|| format!("cannot read journal {}", path.display()));
            }
        };
        let mut journal: Journal = serde_json::from_slice(&bytes).with_context(|| {
            format!(
                "journal {} is not a ragmesh ingest journal (use --restart to start over)",
                path.display()
            )
        })?;
        if journal.version != VERSION {
            return Ok(empty);
        }
        if journal.gateway != gateway || journal.collection != collection {
            anyhow::bail!(
                "journal {} records ingests into collection {:?} at {}, not {collection:?} at {gateway}: \
                 give another --journal or use --restart",
                path.display(),
                journal.collection,
                journal.gateway
            );
        }
        journal.path = path.to_path_buf();
        Ok(journal)
    }

    /// True when `source` was acknowledged with exactly this content hash.
    pub fn is_acknowledged(&self, source: &str, sha256: &str) -> bool {
        self.acknowledged.get(source).is_some_and(|h| h == sha256)
    }

    pub fn record(&mut self, source: &str, sha256: &str) {
        self.acknowledged
            .insert(source.to_string(), sha256.to_string());
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes the journal atomically.
    pub fn save(&self) -> anyhow::Result<()> {
        if let Some(parent) = self.path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        let temporary = self.path.with_extension("json.tmp");
        let bytes = serde_json::to_vec_pretty(self)?;
        let mut file = std::fs::File::create(&temporary)
            .with_context(|| format!("cannot write {}", temporary.display()))?;
        file.write_all(&bytes)?;
        file.sync_all()?;
        std::fs::rename(&temporary, &self.path)
            .with_context(|| format!("cannot write journal {}", self.path.display()))?;
        Ok(())
    }
}

/// Hex sha256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Where a run keeps its journal unless `--journal` says otherwise: beside the models in the
/// ragmesh cache directory (`$XDG_CACHE_HOME/ragmesh/ingest-journals/`, else
/// `~/.cache/ragmesh/ingest-journals/`), one file per gateway, collection and set of paths.
pub fn default_path(gateway: &str, collection: &str, roots: &[PathBuf]) -> PathBuf {
    let mut key = format!("{gateway}\n{collection}");
    for root in roots {
        let absolute = std::fs::canonicalize(root).unwrap_or_else(|_| root.clone());
        key.push('\n');
        key.push_str(&absolute.to_string_lossy());
    }
    cache_dir().join("ragmesh/ingest-journals").join(format!(
        "{collection}-{}.json",
        &sha256_hex(key.as_bytes())[..16]
    ))
}

fn cache_dir() -> PathBuf {
    if let Some(cache) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(cache);
    }
    let home = std::env::var_os("HOME").unwrap_or_else(|| ".".into());
    PathBuf::from(home).join(".cache")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn acknowledgements_survive_a_reopen_and_changed_content_is_not_acknowledged() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j/journal.json");
        let mut journal = Journal::open(&path, "http://g", "c", false).unwrap();
        journal.record("a.md", &sha256_hex(b"one"));
        journal.save().unwrap();

        let journal = Journal::open(&path, "http://g", "c", false).unwrap();
        assert!(journal.is_acknowledged("a.md", &sha256_hex(b"one")));
        assert!(!journal.is_acknowledged("a.md", &sha256_hex(b"two")));
        assert!(!journal.is_acknowledged("b.md", &sha256_hex(b"one")));

        let restarted = Journal::open(&path, "http://g", "c", true).unwrap();
        assert!(!restarted.is_acknowledged("a.md", &sha256_hex(b"one")));

        let err = Journal::open(&path, "http://g", "other", false).unwrap_err();
        assert!(err.to_string().contains("--restart"), "{err}");
    }
}
