//! The backup archive of one collection: a self-describing byte string that can be checked
//! completely before anything is written.
//!
//! Layout: the magic `RMBACKUP`, a u32 (little-endian) manifest length, the manifest (JSON),
//! then the files the manifest lists, back to back, in its order. The manifest carries the
//! format version, the collection name, document/chunk counts, the vector dimension and each
//! file's name, length and SHA-256. Files:
//! - `chunks.bin`: every chunk document (id, source, chunk number, text, metadata);
//! - `vectors.log`: the live vectors in log order, in the vector log's own format.
//!
//! The archive is logical (documents and vectors, not tantivy segment files), so it does not
//! depend on the text index's on-disk version and restores by re-indexing.

use crate::text_index::StoredChunk;
use crate::{ChunkId, IndexError, Metadata};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const MAGIC: &[u8; 8] = b"RMBACKUP";
/// Bumped when the layout changes; restore refuses versions it does not know.
pub const FORMAT_VERSION: u64 = 1;
const CHUNKS_FILE: &str = "chunks.bin";
const VECTORS_FILE: &str = "vectors.log";
/// A manifest is a few hundred bytes; anything much larger is a corrupt length.
const MAX_MANIFEST_BYTES: usize = 64 * 1024;

/// What a verified archive holds.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    pub format_version: u64,
    pub collection: String,
    pub documents: usize,
    pub chunks: usize,
    pub dim: Option<usize>,
}

/// A verified archive's content.
pub(crate) struct ArchiveContent {
    pub manifest: Manifest,
    pub chunks: Vec<StoredChunk>,
    /// Bytes of a vector log.
    pub vectors_log: Vec<u8>,
}

pub(crate) fn encode(
    manifest: &Manifest,
    chunks: &[StoredChunk],
    vectors_log: &[u8],
) -> Result<Vec<u8>, IndexError> {
    let chunks_bin = encode_chunks(chunks);
    let files = [(CHUNKS_FILE, &chunks_bin[..]), (VECTORS_FILE, vectors_log)];
    let manifest_json = json!({
        "format_version": manifest.format_version,
        "collection": manifest.collection,
        "documents": manifest.documents,
        "chunks": manifest.chunks,
        "dim": manifest.dim,
        "files": files.iter().map(|(name, bytes)| json!({
            "name": name,
            "bytes": bytes.len(),
            "sha256": hex::encode(Sha256::digest(bytes)),
        })).collect::<Vec<_>>(),
    });
    let manifest_bytes = serde_json::to_vec_pretty(&manifest_json)
        .map_err(|e| IndexError::TaskFailed(format!("manifest: {e}")))?;
    let total: usize = files.iter().map(|(_, b)| b.len()).sum();
    let mut out = Vec::with_capacity(12 + manifest_bytes.len() + total);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(manifest_bytes.len() as u32).to_le_bytes());
    out.extend_from_slice(&manifest_bytes);
    for (_, bytes) in files {
        out.extend_from_slice(bytes);
    }
    Ok(out)
}

fn bad(reason: impl Into<String>) -> IndexError {
    IndexError::BadArchive(reason.into())
}

/// What the head of an archive (magic, manifest) promises, known before the rest arrives.
#[derive(Debug, Clone, PartialEq)]
pub struct ArchiveHead {
    pub manifest: Manifest,
    /// The whole archive's length: head plus every file the manifest lists.
    pub total_bytes: u64,
}

/// Checks the head of an archive from its first bytes, so a restore can refuse garbage
/// before reading the rest: `Ok(None)` while `prefix` is too short to decide, an error as
/// soon as the magic, the manifest's length, its JSON, its version or its file list is wrong.
pub fn check_head(prefix: &[u8]) -> Result<Option<ArchiveHead>, IndexError> {
    let magic_seen = prefix.len().min(MAGIC.len());
    if prefix[..magic_seen] != MAGIC[..magic_seen] {
        return Err(bad("not a ragmesh backup (bad magic)"));
    }
    if prefix.len() < 12 {
        return Ok(None);
    }
    let manifest_len = u32::from_le_bytes([prefix[8], prefix[9], prefix[10], prefix[11]]) as usize;
    if manifest_len > MAX_MANIFEST_BYTES {
        return Err(bad("the manifest is truncated or its length is corrupt"));
    }
    if prefix.len() < 12 + manifest_len {
        return Ok(None);
    }
    let (manifest, files) = parse_manifest(&prefix[12..12 + manifest_len])?;
    let total_bytes = files
        .iter()
        .try_fold((12 + manifest_len) as u64, |sum, file| {
            sum.checked_add(file.len)
        })
        .ok_or_else(|| bad("the manifest's file lengths overflow"))?;
    Ok(Some(ArchiveHead {
        manifest,
        total_bytes,
    }))
}

/// One file the manifest lists.
struct ListedFile {
    name: String,
    len: u64,
    sha256: String,
}

fn parse_manifest(bytes: &[u8]) -> Result<(Manifest, Vec<ListedFile>), IndexError> {
    let manifest: Value = serde_json::from_slice(bytes)
        .map_err(|e| bad(format!("the manifest is not valid JSON: {e}")))?;
    let number = |key: &str| {
        manifest[key]
            .as_u64()
            .map(|n| n as usize)
            .ok_or_else(|| bad(format!("the manifest has no '{key}'")))
    };
    let format_version = number("format_version")? as u64;
    if format_version != FORMAT_VERSION {
        return Err(bad(format!(
            "format version {format_version} is not supported (this build reads {FORMAT_VERSION})"
        )));
    }
    let collection = manifest["collection"]
        .as_str()
        .ok_or_else(|| bad("the manifest has no 'collection'"))?
        .to_string();
    let manifest_out = Manifest {
        format_version,
        collection,
        documents: number("documents")?,
        chunks: number("chunks")?,
        dim: manifest["dim"].as_u64().map(|d| d as usize),
    };
    let files = manifest["files"]
        .as_array()
        .ok_or_else(|| bad("the manifest lists no files"))?
        .iter()
        .map(|file| {
            let name = file["name"].as_str().unwrap_or_default().to_string();
            let len = file["bytes"]
                .as_u64()
                .ok_or_else(|| bad(format!("the manifest gives no length for '{name}'")))?;
            Ok(ListedFile {
                len,
                sha256: file["sha256"].as_str().unwrap_or_default().to_string(),
                name,
            })
        })
        .collect::<Result<Vec<_>, IndexError>>()?;
    Ok((manifest_out, files))
}

/// Checks magic, manifest, lengths and checksums, then decodes the chunk documents.
pub(crate) fn decode(archive: &[u8]) -> Result<ArchiveContent, IndexError> {
    if archive.len() < 12 || &archive[..8] != MAGIC {
        return Err(bad("not a ragmesh backup (bad magic)"));
    }
    let manifest_len = u32::from_le_bytes([archive[8], archive[9], archive[10], archive[11]]);
    let manifest_len = manifest_len as usize;
    if manifest_len > MAX_MANIFEST_BYTES || 12 + manifest_len > archive.len() {
        return Err(bad("the manifest is truncated or its length is corrupt"));
    }
    let (manifest_out, files) = parse_manifest(&archive[12..12 + manifest_len])?;
    let mut offset = 12 + manifest_len;
    let mut chunks_bin = None;
    let mut vectors_log = None;
    for file in &files {
        let name = file.name.as_str();
        let len = usize::try_from(file.len).unwrap_or(usize::MAX);
        let sha = file.sha256.as_str();
        let available = archive.len().saturating_sub(offset);
        if len > available {
            return Err(bad(format!(
                "the archive is truncated: {name} has {available} of {len} bytes"
            )));
        }
        let bytes = &archive[offset..offset + len];
        offset += len;
        if hex::encode(Sha256::digest(bytes)) != sha {
            return Err(bad(format!("{name} does not match its SHA-256 checksum")));
        }
        match name {
            CHUNKS_FILE => chunks_bin = Some(bytes),
            VECTORS_FILE => vectors_log = Some(bytes.to_vec()),
            other => return Err(bad(format!("unexpected file '{other}' in the archive"))),
        }
    }
    if offset != archive.len() {
        return Err(bad(format!(
            "{} bytes after the last file",
            archive.len() - offset
        )));
    }
    let (Some(chunks_bin), Some(vectors_log)) = (chunks_bin, vectors_log) else {
        return Err(bad(format!(
            "the archive must hold {CHUNKS_FILE} and {VECTORS_FILE}"
        )));
    };
    let chunks = decode_chunks(chunks_bin)?;
    if chunks.len() != manifest_out.chunks {
        return Err(bad(format!(
            "{CHUNKS_FILE} holds {} chunks, the manifest says {}",
            chunks.len(),
            manifest_out.chunks
        )));
    }
    Ok(ArchiveContent {
        manifest: manifest_out,
        chunks,
        vectors_log,
    })
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u32).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn encode_chunks(chunks: &[StoredChunk]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&(chunks.len() as u64).to_le_bytes());
    for chunk in chunks {
        out.extend_from_slice(&chunk.id.0.to_le_bytes());
        out.extend_from_slice(&chunk.chunk_index.to_le_bytes());
        put_str(&mut out, &chunk.source);
        put_str(&mut out, &chunk.text);
        out.extend_from_slice(&(chunk.metadata.len() as u32).to_le_bytes());
        for (k, v) in &chunk.metadata {
            put_str(&mut out, k);
            put_str(&mut out, v);
        }
    }
    out
}

/// A cursor over `chunks.bin` that fails with a clear error instead of reading past the end.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], IndexError> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&end| end <= self.bytes.len())
            .ok_or_else(|| bad(format!("{CHUNKS_FILE} ends inside a record")))?;
        let slice = &self.bytes[self.at..end];
        self.at = end;
        Ok(slice)
    }

    fn u32(&mut self) -> Result<u32, IndexError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self) -> Result<u64, IndexError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    fn string(&mut self) -> Result<String, IndexError> {
        let len = self.u32()? as usize;
        let bytes = self.take(len)?;
        String::from_utf8(bytes.to_vec())
            .map_err(|_| bad(format!("{CHUNKS_FILE} holds text that is not UTF-8")))
    }
}

fn decode_chunks(bytes: &[u8]) -> Result<Vec<StoredChunk>, IndexError> {
    let mut r = Reader { bytes, at: 0 };
    let count = r.u64()? as usize;
    // Each record takes at least 24 bytes: a corrupt count cannot reserve huge memory.
    let mut chunks = Vec::with_capacity(count.min(bytes.len() / 24));
    for _ in 0..count {
        let id = ChunkId(r.u64()?);
        let chunk_index = r.u32()?;
        let source = r.string()?;
        let text = r.string()?;
        let pairs = r.u32()?;
        let mut metadata = Metadata::new();
        for _ in 0..pairs {
            let k = r.string()?;
            metadata.insert(k, r.string()?);
        }
        chunks.push(StoredChunk {
            id,
            source,
            chunk_index,
            text,
            metadata,
        });
    }
    if r.at != bytes.len() {
        return Err(bad(format!(
            "{CHUNKS_FILE} has bytes after its last record"
        )));
    }
    Ok(chunks)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_head_is_judged_from_the_first_bytes_alone() {
        let manifest = Manifest {
            format_version: FORMAT_VERSION,
            collection: "docs".into(),
            documents: 0,
            chunks: 0,
            dim: Some(384),
        };
        let archive = encode(&manifest, &[], b"vector bytes").unwrap();
        let manifest_end = 12 + u32::from_le_bytes(archive[8..12].try_into().unwrap()) as usize;
        for cut in 0..manifest_end {
            assert_eq!(check_head(&archive[..cut]).unwrap(), None, "{cut}");
        }
        let head = check_head(&archive[..manifest_end]).unwrap().unwrap();
        assert_eq!(head.manifest, manifest);
        assert_eq!(head.total_bytes, archive.len() as u64);

        // Garbage is refused at its first byte; a corrupt manifest length at byte 12.
        let err = check_head(b"G").unwrap_err();
        assert!(err.to_string().contains("bad magic"), "{err}");
        let mut long = archive[..12].to_vec();
        long[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
        let err = check_head(&long).unwrap_err();
        assert!(err.to_string().contains("length is corrupt"), "{err}");
        let mut version = archive.clone();
        let text = String::from_utf8_lossy(&version[12..manifest_end]).replace(
            &format!("\"format_version\": {FORMAT_VERSION}"),
            "\"format_version\": 9",
        );
        version.splice(12..manifest_end, text.bytes());
        let err = check_head(&version[..manifest_end]).unwrap_err();
        assert!(err.to_string().contains("format version 9 "), "{err}");
    }
}
