//! One collection on disk (`<data_dir>/collections/<name>/`): a tantivy index holding the
//! chunks (`text/`) and a vector log (`vectors.log`) feeding the in-memory HNSW graph.
//!
//! Opening replays the log, scans the text index and reconciles the two: a vector without
//! a chunk document, or a chunk document without a vector, is the trace of a write that was
//! interrupted before it was acknowledged, and is removed so that nothing half-indexed is
//! ever visible; a chunk document stored twice keeps one copy. The graph is rebuilt from the
//! log, so it holds exactly the log's live vectors. [`OpenReport`] says what was repaired
//! (the retrieval service turns it into `ragmesh_index_repairs_total`). Writes ([`write`])
//! are serialized by one mutex; searches ([`search`]) take no write lock and run concurrently
//! with them; [`backup`] takes a point-in-time copy while both go on, and restores one.
//!
//! This file holds what a collection is and how it opens; each other concern of a collection
//! is a file of this folder, and its tests are in `tests/`.

mod backup;
mod search;
#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
mod write;

pub use backup::RestoreReport;
pub use write::{DocumentInput, UpsertReport};

use crate::catalog::Catalog;
use crate::text_index::TextIndex;
use crate::vector_index::VectorIndex;
use crate::vector_log::{VectorLog, VectorRecord};
use crate::{ChunkId, IndexError, Metadata};
use parking_lot::{Mutex, RwLock};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use tantivy::IndexWriter;

/// A stored document as listed to users.
#[derive(Debug, Clone, PartialEq)]
pub struct DocumentInfo {
    pub source: String,
    pub chunks: usize,
    pub metadata: Metadata,
}

/// Size of a collection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectionInfo {
    pub name: String,
    pub documents: usize,
    pub chunks: usize,
    /// Live vectors (equal to `chunks` once the stores are reconciled).
    pub vectors: usize,
}

/// What opening found and repaired.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OpenReport {
    pub chunks: usize,
    /// Vector records replayed from the log.
    pub log_records: usize,
    /// Bytes of a torn last log record that were cut.
    pub log_truncated_bytes: u64,
    /// Chunk documents removed because their vector was missing.
    pub orphan_documents: usize,
    /// Vectors removed because their chunk document was missing.
    pub orphan_vectors: usize,
    /// Extra copies of a chunk document (same chunk id stored twice) removed; one copy kept.
    pub duplicate_documents: usize,
}

/// State only a writer touches.
pub(crate) struct Writer {
    /// Always Some until drop, which waits for tantivy's merges to finish.
    pub index_writer: Option<IndexWriter>,
    pub log: VectorLog,
}

impl Writer {
    pub fn index_writer(&mut self) -> Result<&mut IndexWriter, IndexError> {
        self.index_writer
            .as_mut()
            .ok_or_else(|| IndexError::TaskFailed("the index writer is closed".into()))
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        // Finishing merges keeps BM25 statistics identical across a restart.
        if let Some(writer) = self.index_writer.take()
            && let Err(e) = writer.wait_merging_threads()
        {
            tracing::warn!(error = %e, "text index merge did not finish");
        }
    }
}

pub struct Collection {
    pub(crate) name: String,
    pub(crate) text: TextIndex,
    pub(crate) vectors: RwLock<VectorIndex>,
    pub(crate) catalog: RwLock<Catalog>,
    pub(crate) writer: Mutex<Writer>,
    open_report: OpenReport,
}

impl std::fmt::Debug for Collection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Collection")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Collection {
    /// Whether `dir` holds a collection.
    pub fn exists(dir: &Path) -> bool {
        TextIndex::exists(&text_dir(dir))
    }

    /// Opens the collection in `dir`, creating it when absent, and reconciles its indexes.
    /// `name` must already be validated.
    pub fn open(dir: &Path, name: &str) -> Result<Collection, IndexError> {
        let (text, mut index_writer) = TextIndex::open_or_create(&text_dir(dir))?;
        let searcher = text.searcher();
        let mut vectors = VectorIndex::new(searcher.num_docs() as usize);
        let mut dim_error = None;
        let (mut log, replay) = VectorLog::open(&log_path(dir), |record| {
            match record {
                VectorRecord::Put { id, vector } => {
                    if let Err(e) = vectors.check_dim(vector.len(), name) {
                        dim_error.get_or_insert(e);
                    } else {
                        vectors.put(id, &vector);
                    }
                }
                VectorRecord::Delete { id } => {
                    vectors.remove(id);
                }
            }
            Ok(())
        })?;
        if let Some(e) = dim_error {
            return Err(IndexError::CorruptLog {
                path: log_path(dir).display().to_string(),
                reason: e.to_string(),
            });
        }

        // Reconcile: keep exactly the chunks present in both stores, each once.
        let mut catalog = Catalog::default();
        let mut seen = HashSet::new();
        let mut orphan_documents = Vec::new();
        let mut duplicates = Vec::new();
        for chunk in text.scan(&searcher)? {
            if !vectors.contains(chunk.id) {
                orphan_documents.push(chunk.id);
            } else if !seen.insert(chunk.id) {
                duplicates.push(chunk.id);
            } else {
                catalog.add_chunk(&chunk.source, chunk.id, chunk.chunk_index, &chunk.metadata);
            }
        }
        let orphan_vectors: Vec<ChunkId> =
            vectors.live_ids().filter(|id| !seen.contains(id)).collect();
        if !orphan_documents.is_empty() || !duplicates.is_empty() {
            // Deleting a term removes every copy: the kept copy of a duplicate is re-added
            // in the same commit, so the chunk is never missing from the committed index.
            let keep = text.fetch(&searcher, &duplicates)?;
            for id in orphan_documents.iter().chain(keep.keys()) {
                index_writer.delete_term(text.id_term(*id));
            }
            for chunk in keep.values() {
                index_writer.add_document(text.document(chunk))?;
            }
            index_writer.commit()?;
            text.reload()?;
        }
        if !orphan_vectors.is_empty() {
            let deletes: Vec<VectorRecord> = orphan_vectors
                .iter()
                .map(|&id| VectorRecord::Delete { id })
                .collect();
            log.append(&deletes)?;
            for id in &orphan_vectors {
                vectors.remove(*id);
            }
        }
        let open_report = OpenReport {
            chunks: catalog.chunk_count(),
            log_records: replay.records,
            log_truncated_bytes: replay.truncated_bytes,
            orphan_documents: orphan_documents.len(),
            orphan_vectors: orphan_vectors.len(),
            duplicate_documents: duplicates.len(),
        };
        if open_report.orphan_documents
            + open_report.orphan_vectors
            + open_report.duplicate_documents
            > 0
            || replay.truncated_bytes > 0
        {
            tracing::warn!(
                collection = name,
                orphan_documents = open_report.orphan_documents,
                orphan_vectors = open_report.orphan_vectors,
                duplicate_documents = open_report.duplicate_documents,
                log_truncated_bytes = replay.truncated_bytes,
                "repaired the traces of an interrupted write"
            );
        }
        let collection = Collection {
            name: name.to_string(),
            text,
            vectors: RwLock::new(vectors),
            catalog: RwLock::new(catalog),
            writer: Mutex::new(Writer {
                index_writer: Some(index_writer),
                log,
            }),
            open_report,
        };
        collection.compact_if_needed(&mut collection.writer.lock())?;
        tracing::info!(
            collection = name,
            chunks = open_report.chunks,
            log_records = replay.records,
            "collection opened"
        );
        Ok(collection)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// What opening found and repaired.
    pub fn open_report(&self) -> OpenReport {
        self.open_report
    }

    /// Dimension of the stored vectors (None while the collection is empty).
    pub fn dim(&self) -> Option<usize> {
        self.vectors.read().dim()
    }

    pub fn info(&self) -> CollectionInfo {
        let vectors = self.vectors.read().live_len();
        let catalog = self.catalog.read();
        CollectionInfo {
            vectors,
            name: self.name.clone(),
            documents: catalog.document_count(),
            chunks: catalog.chunk_count(),
        }
    }

    /// Every document, ordered by source.
    pub fn documents(&self) -> Vec<DocumentInfo> {
        self.catalog
            .read()
            .documents()
            .map(|(source, entry)| DocumentInfo {
                source: source.clone(),
                chunks: entry.chunks.len(),
                metadata: entry.metadata.clone(),
            })
            .collect()
    }

    /// Ids of a document's chunks in chunk order (None for an unknown source).
    pub fn chunk_ids(&self, source: &str) -> Option<Vec<ChunkId>> {
        let catalog = self.catalog.read();
        let entry = catalog.get(source)?;
        let mut chunks: Vec<(u32, ChunkId)> = entry
            .chunks
            .iter()
            .map(|(id, index)| (*index, *id))
            .collect();
        chunks.sort();
        Some(chunks.into_iter().map(|(_, id)| id).collect())
    }

    /// Live vectors and dead slots of the HNSW graph.
    pub fn vector_slots(&self) -> (usize, usize) {
        let vectors = self.vectors.read();
        (vectors.live_len(), vectors.dead_len())
    }
}

pub(crate) fn text_dir(dir: &Path) -> PathBuf {
    dir.join("text")
}

pub(crate) fn log_path(dir: &Path) -> PathBuf {
    dir.join("vectors.log")
}
