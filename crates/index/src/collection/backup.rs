//! Backup and restore of whole collections.
//!
//! A backup is a point-in-time view taken while the collection keeps serving: the writer lock
//! is held only to pick a text-index searcher (the last commit, which the writer reloads
//! before releasing the lock) and to copy the live vectors, so the two always describe the
//! same acknowledged writes. The chunk documents are then read from that searcher with the
//! lock released; ingests and searches go on meanwhile.
//!
//! A restore verifies the whole archive first ([`crate::backup_archive`]), builds the
//! collection in `<data_dir>/restoring/`, opens it there to check that the vectors and chunk
//! documents agree with each other and with the manifest, and only then renames it into
//! `collections/` — so a bad archive, or a crash mid-restore, touches no existing collection.
//! Chunk ids are derived again for the restored name, so the copy behaves exactly like a
//! collection ingested under that name.

use super::{log_path, text_dir};
use crate::backup_archive::{self, FORMAT_VERSION, Manifest};
use crate::text_index::{StoredChunk, TextIndex};
use crate::vector_log::{VectorLog, VectorRecord};
use crate::{ChunkId, Collection, Collections, IndexError, vector_log};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Tells apart the staging folders of restores running at the same time.
static STAGING_SEQ: AtomicU64 = AtomicU64::new(0);

/// What a restore stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreReport {
    pub collection: String,
    pub documents: usize,
    pub chunks: usize,
    /// An existing collection of that name was replaced.
    pub replaced: bool,
}

impl Collection {
    /// A consistent archive of the collection as of the last acknowledged write.
    pub fn backup(&self) -> Result<(Manifest, Vec<u8>), IndexError> {
        let (searcher, vectors_log, dim) = {
            let _writer = self.writer.lock();
            let vectors = self.vectors.read();
            (
                self.text.searcher(),
                vector_log::encode_log(vectors.live_vectors()),
                vectors.dim(),
            )
        };
        let mut chunks = self.text.scan_with_text(&searcher)?;
        chunks.sort_by(|a, b| (&a.source, a.chunk_index).cmp(&(&b.source, b.chunk_index)));
        let documents: BTreeSet<&str> = chunks.iter().map(|c| c.source.as_str()).collect();
        let manifest = Manifest {
            format_version: FORMAT_VERSION,
            collection: self.name.clone(),
            documents: documents.len(),
            chunks: chunks.len(),
            dim,
        };
        let archive = backup_archive::encode(&manifest, &chunks, &vectors_log)?;
        Ok((manifest, archive))
    }

    /// Closes the writer (waiting for merges) so the folder can be moved; later writes
    /// through an old handle fail instead of writing into a replaced collection.
    fn close_writer(&self) {
        let mut writer = self.writer.lock();
        if let Some(index_writer) = writer.index_writer.take()
            && let Err(e) = index_writer.wait_merging_threads()
        {
            tracing::warn!(collection = %self.name, error = %e, "text index merge did not finish");
        }
    }
}

impl Collections {
    /// Restores `archive` as `name` (default: the name it was backed up from). An existing
    /// collection of that name is an error unless `replace` is set.
    pub fn restore(
        &self,
        archive: &[u8],
        name: Option<&str>,
        replace: bool,
    ) -> Result<RestoreReport, IndexError> {
        let content = backup_archive::decode(archive)?;
        let name = ragmesh_core::validate_collection(
            name.filter(|n| !n.is_empty())
                .unwrap_or(&content.manifest.collection),
        )?
        .to_string();
        let target = self.root.join(&name);
        if !replace && Collection::exists(&target) {
            return Err(IndexError::CollectionExists(name));
        }
        let staging = self.staging_dir(&name)?;
        let built = build(&staging, &name, &content);
        if let Err(e) = built {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(e);
        }

        let mut open = self.open.lock();
        let exists = Collection::exists(&target);
        if exists && !replace {
            drop(open);
            let _ = std::fs::remove_dir_all(&staging);
            return Err(IndexError::CollectionExists(name));
        }
        let old = if exists {
            if let Some(collection) = open.remove(&name) {
                collection.close_writer();
            }
            let old = self.staging_dir(&format!("{name}-replaced"))?;
            rename(&target, &old)?;
            Some(old)
        } else {
            None
        };
        rename(&staging, &target)?;
        sync_dir(&self.root)?;
        let collection = std::sync::Arc::new(Collection::open(&target, &name)?);
        let info = collection.info();
        open.insert(name.clone(), collection);
        drop(open);
        if let Some(old) = old {
            let _ = std::fs::remove_dir_all(old);
        }
        tracing::info!(collection = %name, documents = info.documents, chunks = info.chunks, replaced = exists, "collection restored");
        Ok(RestoreReport {
            collection: name,
            documents: info.documents,
            chunks: info.chunks,
            replaced: exists,
        })
    }

    /// A fresh folder under `<data_dir>/restoring/` (outside `collections/`, so it is never
    /// listed or opened as a collection).
    fn staging_dir(&self, name: &str) -> Result<PathBuf, IndexError> {
        let base = self.root.parent().unwrap_or(&self.root).join("restoring");
        let seq = STAGING_SEQ.fetch_add(1, Ordering::Relaxed);
        let dir = base.join(format!("{name}-{}-{seq}", std::process::id()));
        if dir.exists() {
            std::fs::remove_dir_all(&dir)
                .map_err(|e| IndexError::io(format!("clear {}", dir.display()), e))?;
        }
        std::fs::create_dir_all(&dir)
            .map_err(|e| IndexError::io(format!("create {}", dir.display()), e))?;
        Ok(dir)
    }
}

/// Writes the archive's vectors and chunk documents into `dir` and checks, by opening the
/// result, that they agree with each other and with the manifest.
fn build(
    dir: &Path,
    name: &str,
    content: &backup_archive::ArchiveContent,
) -> Result<(), IndexError> {
    let chunks = rekey(dir, name, content)?;
    {
        let (text, mut writer) = TextIndex::open_or_create(&text_dir(dir))?;
        for chunk in &chunks {
            writer.add_document(text.document(chunk))?;
        }
        writer.commit()?;
        writer.wait_merging_threads()?;
    }
    let collection = Collection::open(dir, name).map_err(|e| match e {
        IndexError::CorruptLog { reason, .. } => {
            IndexError::BadArchive(format!("vectors.log is not a valid vector log: {reason}"))
        }
        other => other,
    })?;
    let report = collection.open_report();
    let info = collection.info();
    drop(collection);
    let manifest = &content.manifest;
    if report.orphan_documents + report.orphan_vectors + report.duplicate_documents > 0
        || report.log_truncated_bytes > 0
        || info.chunks != manifest.chunks
        || info.documents != manifest.documents
    {
        return Err(IndexError::BadArchive(format!(
            "vectors and chunks disagree: {} chunks without a vector, {} vectors without a chunk, {} duplicate chunks, {} chunks in {} documents where the manifest says {} in {}",
            report.orphan_documents,
            report.orphan_vectors,
            report.duplicate_documents,
            info.chunks,
            info.documents,
            manifest.chunks,
            manifest.documents
        )));
    }
    let file = std::fs::File::open(log_path(dir))
        .map_err(|e| IndexError::io(format!("open {}", log_path(dir).display()), e))?;
    file.sync_all()
        .map_err(|e| IndexError::io(format!("sync {}", log_path(dir).display()), e))?;
    sync_dir(dir)
}

/// Chunk ids derive from the collection name: under another name every chunk gets the id an
/// ingest into that collection would give it (so re-ingesting the same text there adds
/// nothing), and the vector log is rewritten with the new ids, in the same order.
fn rekey(
    dir: &Path,
    name: &str,
    content: &backup_archive::ArchiveContent,
) -> Result<Vec<StoredChunk>, IndexError> {
    let mut by_source: BTreeMap<&str, Vec<&StoredChunk>> = BTreeMap::new();
    for chunk in &content.chunks {
        by_source.entry(&chunk.source).or_default().push(chunk);
    }
    let mut new_ids: HashMap<ChunkId, ChunkId> = HashMap::with_capacity(content.chunks.len());
    let mut chunks = Vec::with_capacity(content.chunks.len());
    for (source, mut parts) in by_source {
        parts.sort_by_key(|c| c.chunk_index);
        let texts: Vec<&str> = parts.iter().map(|c| c.text.as_str()).collect();
        for (chunk, id) in parts
            .iter()
            .zip(ChunkId::for_document(name, source, &texts))
        {
            if new_ids.insert(chunk.id, id).is_some() {
                return Err(IndexError::BadArchive(format!(
                    "chunks.bin holds chunk {} twice",
                    chunk.id.to_hex()
                )));
            }
            chunks.push(StoredChunk {
                id,
                ..(*chunk).clone()
            });
        }
    }
    let path = log_path(dir);
    std::fs::write(&path, &content.vectors_log)
        .map_err(|e| IndexError::io(format!("write {}", path.display()), e))?;
    let mut puts: Vec<(ChunkId, Vec<f32>)> = Vec::with_capacity(chunks.len());
    let mut problem = None;
    let (mut log, replay) = VectorLog::open(&path, |record| {
        match record {
            VectorRecord::Put { id, vector } => match new_ids.get(&id) {
                Some(&new) => puts.push((new, vector)),
                None => {
                    problem.get_or_insert(format!(
                        "vectors.log holds a vector of unknown chunk {}",
                        id.to_hex()
                    ));
                }
            },
            VectorRecord::Delete { .. } => {
                problem.get_or_insert("vectors.log holds a delete record".to_string());
            }
        }
        Ok(())
    })?;
    if replay.truncated_bytes > 0 {
        problem.get_or_insert("vectors.log ends with a torn record".to_string());
    }
    if let Some(problem) = problem {
        return Err(IndexError::BadArchive(problem));
    }
    log.rewrite(puts.iter().map(|(id, v)| (*id, v.as_slice())))?;
    Ok(chunks)
}

fn rename(from: &Path, to: &Path) -> Result<(), IndexError> {
    std::fs::rename(from, to)
        .map_err(|e| IndexError::io(format!("rename {} to {}", from.display(), to.display()), e))
}

fn sync_dir(dir: &Path) -> Result<(), IndexError> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| IndexError::io(format!("sync {}", dir.display()), e))
}
