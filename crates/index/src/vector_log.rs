//! The durable half of the vector store: an append-only log of `put`/`delete` records, each
//! framed with its length and a CRC32, fsync'd before a write is acknowledged. The in-memory
//! HNSW index is rebuilt from it on open, so the log is the only vector state on disk.
//!
//! A crash can leave a torn last record; replay stops at the first record whose frame or
//! checksum is wrong and truncates the file there. Compaction rewrites the live vectors to a
//! temporary file and renames it over the log, so a crash during compaction leaves either the
//! old or the new log, never a mix.

use crate::{ChunkId, IndexError};
use std::fs::{File, OpenOptions};
use std::io::{BufReader, ErrorKind, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 8] = b"RMVLOG01";
const TAG_PUT: u8 = 1;
const TAG_DELETE: u8 = 2;
/// Largest payload accepted on replay (a put of a 65,536-dimension vector); anything larger is
/// a corrupt length field.
const MAX_PAYLOAD_BYTES: usize = 1 + 8 + 4 + 4 * 65_536;

/// One change to the vector store.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum VectorRecord {
    Put { id: ChunkId, vector: Vec<f32> },
    Delete { id: ChunkId },
}

/// What replay found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct ReplayReport {
    pub records: usize,
    /// Bytes cut from the end because the last record was torn or corrupt.
    pub truncated_bytes: u64,
}

pub(crate) struct VectorLog {
    path: PathBuf,
    file: File,
    /// Length of the valid log; a failed append is cut back to it.
    len: u64,
}

impl VectorLog {
    /// Opens (or creates) the log at `path`, calling `visit` for every valid record in order.
    pub fn open(
        path: &Path,
        mut visit: impl FnMut(VectorRecord) -> Result<(), IndexError>,
    ) -> Result<(VectorLog, ReplayReport), IndexError> {
        let io = |what: &str, e| IndexError::io(format!("{what} {}", path.display()), e);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(|e| io("open", e))?;
        let file_len = file.metadata().map_err(|e| io("stat", e))?.len();
        let mut report = ReplayReport::default();
        let valid_len = if file_len < MAGIC.len() as u64 {
            // New file, or a crash before the header was written: start empty.
            file.set_len(0).map_err(|e| io("truncate", e))?;
            file.write_all(MAGIC).map_err(|e| io("write", e))?;
            file.sync_all().map_err(|e| io("sync", e))?;
            sync_parent_dir(path)?;
            MAGIC.len() as u64
        } else {
            let mut reader = BufReader::with_capacity(1 << 20, &mut file);
            let mut magic = [0u8; 8];
            reader.read_exact(&mut magic).map_err(|e| io("read", e))?;
            if &magic != MAGIC {
                return Err(IndexError::CorruptLog {
                    path: path.display().to_string(),
                    reason: "not a ragmesh vector log (bad magic)".into(),
                });
            }
            let mut valid = MAGIC.len() as u64;
            while let Some((record, frame_len)) =
                read_record(&mut reader).map_err(|e| io("read", e))?
            {
                visit(record)?;
                report.records += 1;
                valid += frame_len;
            }
            valid
        };
        if valid_len < file_len {
            report.truncated_bytes = file_len - valid_len;
            file.set_len(valid_len).map_err(|e| io("truncate", e))?;
            file.sync_all().map_err(|e| io("sync", e))?;
        }
        file.seek(SeekFrom::Start(valid_len))
            .map_err(|e| io("seek", e))?;
        Ok((
            VectorLog {
                path: path.to_path_buf(),
                file,
                len: valid_len,
            },
            report,
        ))
    }

    /// Appends `records` and waits until they are on disk. On failure the log is cut back
    /// to its previous length so a torn record never hides later ones.
    pub fn append(&mut self, records: &[VectorRecord]) -> Result<(), IndexError> {
        if records.is_empty() {
            return Ok(());
        }
        let mut buffer = Vec::new();
        for record in records {
            encode_record(record, &mut buffer);
        }
        let result = self
            .file
            .write_all(&buffer)
            .and_then(|()| self.file.sync_data());
        match result {
            Ok(()) => {
                self.len += buffer.len() as u64;
                Ok(())
            }
            Err(e) => {
                let _ = self.file.set_len(self.len);
                let _ = self.file.seek(SeekFrom::Start(self.len));
                Err(IndexError::io(
                    format!("append to {}", self.path.display()),
                    e,
                ))
            }
        }
    }

    /// Replaces the log by one holding only `live` puts, in order (compaction).
    pub fn rewrite<'a>(
        &mut self,
        live: impl Iterator<Item = (ChunkId, &'a [f32])>,
    ) -> Result<(), IndexError> {
        let tmp = self.path.with_extension("compacting");
        let io = |what: &str, e| IndexError::io(format!("{what} {}", tmp.display()), e);
        let mut file = File::create(&tmp).map_err(|e| io("create", e))?;
        let mut buffer = MAGIC.to_vec();
        for (id, vector) in live {
            encode_record(
                &VectorRecord::Put {
                    id,
                    vector: vector.to_vec(),
                },
                &mut buffer,
            );
            if buffer.len() > 1 << 20 {
                file.write_all(&buffer).map_err(|e| io("write", e))?;
                buffer.clear();
            }
        }
        file.write_all(&buffer).map_err(|e| io("write", e))?;
        file.sync_all().map_err(|e| io("sync", e))?;
        let len = file.metadata().map_err(|e| io("stat", e))?.len();
        std::fs::rename(&tmp, &self.path).map_err(|e| io("rename", e))?;
        sync_parent_dir(&self.path)?;
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&self.path)
            .map_err(|e| IndexError::io(format!("open {}", self.path.display()), e))?;
        file.seek(SeekFrom::Start(len))
            .map_err(|e| IndexError::io(format!("seek {}", self.path.display()), e))?;
        self.file = file;
        self.len = len;
        Ok(())
    }

    /// Bytes of valid log on disk.
    #[cfg(test)]
    pub fn len_bytes(&self) -> u64 {
        self.len
    }
}

/// A complete log holding `live` puts in order (the vector file of a backup archive).
pub(crate) fn encode_log<'a>(live: impl Iterator<Item = (ChunkId, &'a [f32])>) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    for (id, vector) in live {
        encode_record(
            &VectorRecord::Put {
                id,
                vector: vector.to_vec(),
            },
            &mut out,
        );
    }
    out
}

fn encode_record(record: &VectorRecord, out: &mut Vec<u8>) {
    let mut payload = Vec::new();
    match record {
        VectorRecord::Put { id, vector } => {
            payload.reserve(13 + 4 * vector.len());
            payload.push(TAG_PUT);
            payload.extend_from_slice(&id.0.to_le_bytes());
            payload.extend_from_slice(&(vector.len() as u32).to_le_bytes());
            for x in vector {
                payload.extend_from_slice(&x.to_le_bytes());
            }
        }
        VectorRecord::Delete { id } => {
            payload.push(TAG_DELETE);
            payload.extend_from_slice(&id.0.to_le_bytes());
        }
    }
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
    out.extend_from_slice(&payload);
}

/// The next record and its frame length; None at the end of the valid log (clean end, torn
/// frame, bad checksum or undecodable payload).
fn read_record(reader: &mut impl Read) -> std::io::Result<Option<(VectorRecord, u64)>> {
    let mut header = [0u8; 8];
    if !read_full(reader, &mut header)? {
        return Ok(None);
    }
    let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
    let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    if len == 0 || len > MAX_PAYLOAD_BYTES {
        return Ok(None);
    }
    let mut payload = vec![0u8; len];
    if !read_full(reader, &mut payload)? || crc32fast::hash(&payload) != crc {
        return Ok(None);
    }
    Ok(decode_payload(&payload).map(|r| (r, 8 + len as u64)))
}

fn decode_payload(payload: &[u8]) -> Option<VectorRecord> {
    let id = ChunkId(u64::from_le_bytes(payload.get(1..9)?.try_into().ok()?));
    match payload[0] {
        TAG_DELETE if payload.len() == 9 => Some(VectorRecord::Delete { id }),
        TAG_PUT => {
            let dim = u32::from_le_bytes(payload.get(9..13)?.try_into().ok()?) as usize;
            let body = payload.get(13..)?;
            if body.len() != dim * 4 {
                return None;
            }
            let vector = body
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            Some(VectorRecord::Put { id, vector })
        }
        _ => None,
    }
}

/// Fills `buf`; false when the stream ends first (a torn frame counts as the end).
fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> std::io::Result<bool> {
    match reader.read_exact(buf) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == ErrorKind::UnexpectedEof => Ok(false),
        Err(e) => Err(e),
    }
}

/// Makes a file creation or rename durable.
fn sync_parent_dir(path: &Path) -> Result<(), IndexError> {
    let Some(dir) = path.parent() else {
        return Ok(());
    };
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| IndexError::io(format!("sync {}", dir.display()), e))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn replay(path: &Path) -> (Vec<VectorRecord>, ReplayReport) {
        let mut seen = Vec::new();
        let (_, report) = VectorLog::open(path, |r| {
            seen.push(r);
            Ok(())
        })
        .unwrap();
        (seen, report)
    }

    fn put(id: u64, x: f32) -> VectorRecord {
        VectorRecord::Put {
            id: ChunkId(id),
            vector: vec![x, -x, 0.5],
        }
    }

    #[test]
    fn records_survive_reopen_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vectors.log");
        let (mut log, report) = VectorLog::open(&path, |_| Ok(())).unwrap();
        assert_eq!(report.records, 0);
        let records = vec![
            put(1, 0.1),
            put(2, 0.2),
            VectorRecord::Delete { id: ChunkId(1) },
        ];
        log.append(&records).unwrap();
        drop(log);
        let (seen, report) = replay(&path);
        assert_eq!(seen, records);
        assert_eq!(
            report,
            ReplayReport {
                records: 3,
                truncated_bytes: 0
            }
        );
    }

    #[test]
    fn a_torn_or_corrupt_tail_is_cut_and_earlier_records_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vectors.log");
        let (mut log, _) = VectorLog::open(&path, |_| Ok(())).unwrap();
        log.append(&[put(1, 0.1), put(2, 0.2)]).unwrap();
        let good_len = log.len_bytes();
        log.append(&[put(3, 0.3)]).unwrap();
        drop(log);
        // Torn write: the last record lost its final bytes.
        let full = std::fs::read(&path).unwrap();
        std::fs::write(&path, &full[..full.len() - 5]).unwrap();
        let (seen, report) = replay(&path);
        assert_eq!(seen, vec![put(1, 0.1), put(2, 0.2)]);
        assert_eq!(report.truncated_bytes, full.len() as u64 - 5 - good_len);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), good_len);

        // Flipped bit inside the second record: it and everything after are dropped.
        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 3;
        bytes[last] ^= 0x40;
        std::fs::write(&path, &bytes).unwrap();
        let (seen, _) = replay(&path);
        assert_eq!(seen, vec![put(1, 0.1)]);

        // Appends after a repaired tail are read back.
        let (mut log, _) = VectorLog::open(&path, |_| Ok(())).unwrap();
        log.append(&[put(4, 0.4)]).unwrap();
        drop(log);
        assert_eq!(replay(&path).0, vec![put(1, 0.1), put(4, 0.4)]);
    }

    #[test]
    fn compaction_keeps_only_the_given_vectors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vectors.log");
        let (mut log, _) = VectorLog::open(&path, |_| Ok(())).unwrap();
        log.append(&[
            put(1, 0.1),
            put(2, 0.2),
            VectorRecord::Delete { id: ChunkId(1) },
        ])
        .unwrap();
        let v = [0.2f32, -0.2, 0.5];
        log.rewrite(std::iter::once((ChunkId(2), &v[..]))).unwrap();
        log.append(&[put(5, 0.5)]).unwrap();
        drop(log);
        assert_eq!(replay(&path).0, vec![put(2, 0.2), put(5, 0.5)]);
        assert!(!path.with_extension("compacting").exists());
    }

    #[test]
    fn a_file_that_is_not_a_log_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vectors.log");
        std::fs::write(&path, b"something else entirely").unwrap();
        assert!(matches!(
            VectorLog::open(&path, |_| Ok(())),
            Err(IndexError::CorruptLog { .. })
        ));
    }
}
