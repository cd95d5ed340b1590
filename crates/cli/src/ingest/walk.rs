//! Finding what `ragmesh ingest` sends: files given directly and every file under folders
//! given (recursively, hidden entries skipped), each named by its path relative to the folder
//! given (with `/` separators) or, for a file given directly, its file name. Files of a type
//! the gateway does not accept are listed as skipped with the reason, not silently dropped.

use anyhow::Context;
use ragmesh_extract::Format;
use std::path::{Path, PathBuf};

/// A file to send: its source name and where it is.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Candidate {
    pub source: String,
    pub path: PathBuf,
}

/// A file not sent, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub path: PathBuf,
    pub reason: String,
}

/// Every supported file under `roots`, sorted by source name, and the files skipped.
pub fn collect(roots: &[PathBuf]) -> anyhow::Result<(Vec<Candidate>, Vec<Skipped>)> {
    let mut files = Vec::new();
    let mut skipped = Vec::new();
    for root in roots {
        let meta =
            std::fs::metadata(root).with_context(|| format!("cannot read {}", root.display()))?;
        if meta.is_dir() {
            walk(root, root, &mut files, &mut skipped)?;
        } else {
            let name = root
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| root.display().to_string());
            consider(name, root, &mut files, &mut skipped);
        }
    }
    files.sort();
    // Two roots can hold files of the same relative name; a request may not name a source twice
    // and the later one would replace the earlier, so only the first is sent.
    let mut unique: Vec<Candidate> = Vec::with_capacity(files.len());
    for file in files {
        match unique.last() {
            Some(previous) if previous.source == file.source => skipped.push(Skipped {
                reason: format!(
                    "its source name {:?} is also the name of {}",
                    file.source,
                    previous.path.display()
                ),
                path: file.path,
            }),
            _ => unique.push(file),
        }
    }
    Ok((unique, skipped))
}

fn walk(
    root: &Path,
    dir: &Path,
    files: &mut Vec<Candidate>,
    skipped: &mut Vec<Skipped>,
) -> anyhow::Result<()> {
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("cannot list {}", dir.display()))?;
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let path = entry.path();
        // Follows symbolic links to files and folders alike.
        let meta = match std::fs::metadata(&path) {
            Ok(meta) => meta,
            Err(e) => {
                skipped.push(Skipped {
                    path,
                    reason: format!("cannot read: {e}"),
                });
                continue;
            }
        };
        if meta.is_dir() {
            walk(root, &path, files, skipped)?;
            continue;
        }
        let relative = path.strip_prefix(root).unwrap_or(&path);
        let source = relative
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/");
        consider(source, &path, files, skipped);
    }
    Ok(())
}

fn consider(source: String, path: &Path, files: &mut Vec<Candidate>, skipped: &mut Vec<Skipped>) {
    let reason = if !Format::is_supported(&source) {
        Some(format!(
            "unsupported type (accepted: {})",
            ragmesh_extract::allowed_extensions()
        ))
    } else if source.chars().any(|c| c == '"' || c.is_control()) {
        Some("its name holds a quote or control character, which an upload cannot carry".into())
    } else {
        None
    };
    match reason {
        Some(reason) => skipped.push(Skipped {
            path: path.to_path_buf(),
            reason,
        }),
        None => files.push(Candidate {
            source,
            path: path.to_path_buf(),
        }),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn folders_are_walked_with_relative_names_and_other_types_are_skipped_with_a_reason() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("sub/deeper")).unwrap();
        std::fs::create_dir_all(dir.path().join(".git")).unwrap();
        for name in [
            "a.md",
            "sub/b.PDF",
            "sub/deeper/c.docx",
            "tool.exe",
            ".git/x.txt",
        ] {
            std::fs::write(dir.path().join(name), b"x").unwrap();
        }
        let single = dir.path().join("sub/deeper/c.docx");
        let twice = dir.path().join("a.md");
        let (files, skipped) = collect(&[dir.path().to_path_buf(), single, twice]).unwrap();
        let names: Vec<&str> = files.iter().map(|f| f.source.as_str()).collect();
        assert_eq!(names, ["a.md", "c.docx", "sub/b.PDF", "sub/deeper/c.docx"]);
        assert_eq!(skipped.len(), 2, "{skipped:?}");
        assert_eq!(skipped[0].path, dir.path().join("tool.exe"));
        assert!(skipped[0].reason.contains(".docx"), "{:?}", skipped[0]);
        assert!(
            skipped[1].reason.contains("also the name of"),
            "{:?}",
            skipped[1]
        );
    }
}
