//! Writes to a collection: upserting documents and deleting sources, one writer at a time.
//!
//! Order of an upsert, chosen so that a crash at any point leaves either the old or the new
//! version of a document after reconciliation, never a mix:
//! 1. new vectors are appended to the log and fsync'd;
//! 2. the text index deletes stale and moved chunks, adds new and moved ones, and commits
//!    (atomic, durable), then the reader is reloaded so the write is visible on return;
//! 3. deletes of the stale vectors are appended to the log and fsync'd;
//! 4. the in-memory graph and catalog are updated.
//!
//! A crash before (2) leaves vectors without documents (removed on open); a crash between
//! (2) and (3) leaves stale vectors without documents (removed on open).

use super::{Collection, Writer};
use crate::catalog::DocumentEntry;
use crate::metadata::validate_entries;
use crate::text_index::StoredChunk;
use crate::vector_index::normalized;
use crate::vector_log::VectorRecord;
use crate::{ChunkId, IndexError, Metadata};
use std::collections::{BTreeMap, HashSet};

/// Fraction of dead graph slots above which the log is compacted and the graph rebuilt.
const COMPACT_DEAD_FRACTION: f64 = 0.3;

/// One document to store: its source (the document's identity in the collection), its
/// metadata and its chunk texts in order.
#[derive(Debug, Clone, PartialEq)]
pub struct DocumentInput {
    pub source: String,
    pub metadata: Metadata,
    pub chunks: Vec<String>,
}

/// What an upsert changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UpsertReport {
    pub documents: usize,
    /// Chunks the upserted documents consist of now.
    pub chunks: usize,
    /// Chunks that were not stored before (these were embedded).
    pub chunks_added: usize,
    /// Chunks of earlier versions that are gone.
    pub chunks_removed: usize,
}

/// A chunk of the new version of a document.
struct PlannedChunk {
    id: ChunkId,
    index: u32,
    text: String,
    /// Not stored yet: needs a vector.
    new: bool,
    /// Stored already, but its position or the document's metadata changed: its text
    /// document is rewritten (its vector is kept).
    rewrite: bool,
}

struct DocumentPlan {
    source: String,
    metadata: Metadata,
    chunks: Vec<PlannedChunk>,
    stale: Vec<ChunkId>,
}

impl Collection {
    /// Stores `documents`, replacing earlier versions of the same sources. Only chunks not
    /// stored yet are passed to `embed` (one call, texts in document order); it must return
    /// one vector per text. Returns once the change is durable and visible.
    pub fn upsert<E>(
        &self,
        documents: Vec<DocumentInput>,
        embed: impl FnOnce(&[&str]) -> Result<Vec<Vec<f32>>, E>,
    ) -> Result<UpsertReport, E>
    where
        E: From<IndexError>,
    {
        validate_documents(&documents)?;
        let mut writer = self.writer.lock();
        let plans = self.plan(documents);
        let new_chunks: Vec<&PlannedChunk> = plans
            .iter()
            .flat_map(|p| p.chunks.iter().filter(|c| c.new))
            .collect();
        let texts: Vec<&str> = new_chunks.iter().map(|c| c.text.as_str()).collect();
        let vectors = if texts.is_empty() {
            Vec::new()
        } else {
            embed(&texts)?
        };
        if vectors.len() != texts.len() {
            return Err(IndexError::EmbeddingCount {
                expected: texts.len(),
                got: vectors.len(),
            }
            .into());
        }
        let mut puts = Vec::with_capacity(vectors.len());
        {
            let index = self.vectors.read();
            for (chunk, vector) in new_chunks.iter().zip(&vectors) {
                index.check_dim(vector.len(), &self.name)?;
                if let Some(first) = puts.first().map(|p: &VectorRecord| put_len(p))
                    && first != vector.len()
                {
                    return Err(IndexError::invalid(
                        "embedding returned vectors of different lengths",
                    )
                    .into());
                }
                puts.push(VectorRecord::Put {
                    id: chunk.id,
                    vector: normalized(vector)?,
                });
            }
        }
        Ok(self.apply(&mut writer, &plans, puts)?)
    }

    /// Removes every chunk of `source` from both indexes; returns how many.
    pub fn delete_source(&self, source: &str) -> Result<usize, IndexError> {
        let mut writer = self.writer.lock();
        let ids: Vec<ChunkId> = match self.catalog.read().get(source) {
            Some(entry) => entry.chunks.keys().copied().collect(),
            None => {
                return Err(IndexError::SourceNotFound {
                    collection: self.name.clone(),
                    source_name: source.to_string(),
                });
            }
        };
        let index_writer = writer.index_writer()?;
        for id in &ids {
            index_writer.delete_term(self.text.id_term(*id));
        }
        if let Err(e) = index_writer.commit() {
            let _ = index_writer.rollback();
            return Err(e.into());
        }
        let reloaded = self.text.reload();
        let deletes: Vec<VectorRecord> =
            ids.iter().map(|&id| VectorRecord::Delete { id }).collect();
        let logged = writer.log.append(&deletes);
        {
            let mut vectors = self.vectors.write();
            for id in &ids {
                vectors.remove(*id);
            }
        }
        self.catalog.write().set(source, DocumentEntry::default());
        reloaded?;
        logged?;
        self.compact_if_needed(&mut writer)?;
        Ok(ids.len())
    }

    /// Compares each document with its stored version.
    fn plan(&self, documents: Vec<DocumentInput>) -> Vec<DocumentPlan> {
        let catalog = self.catalog.read();
        documents
            .into_iter()
            .map(|doc| {
                let texts: Vec<&str> = doc.chunks.iter().map(String::as_str).collect();
                let ids = ChunkId::for_document(&self.name, &doc.source, &texts);
                let stored = catalog.get(&doc.source);
                let same_metadata = stored.is_some_and(|s| s.metadata == doc.metadata);
                let chunks: Vec<PlannedChunk> = ids
                    .iter()
                    .zip(doc.chunks)
                    .enumerate()
                    .map(|(i, (&id, text))| {
                        let index = i as u32;
                        let old_index = stored.and_then(|s| s.chunks.get(&id)).copied();
                        PlannedChunk {
                            id,
                            index,
                            text,
                            new: old_index.is_none(),
                            rewrite: old_index.is_some_and(|old| old != index || !same_metadata),
                        }
                    })
                    .collect();
                let keep: HashSet<ChunkId> = ids.iter().copied().collect();
                let stale = stored
                    .map(|s| {
                        s.chunks
                            .keys()
                            .filter(|id| !keep.contains(id))
                            .copied()
                            .collect()
                    })
                    .unwrap_or_default();
                DocumentPlan {
                    source: doc.source,
                    metadata: doc.metadata,
                    chunks,
                    stale,
                }
            })
            .collect()
    }

    /// Steps 1-4 of the module docs for planned documents with their new vectors.
    fn apply(
        &self,
        writer: &mut Writer,
        plans: &[DocumentPlan],
        puts: Vec<VectorRecord>,
    ) -> Result<UpsertReport, IndexError> {
        // 1. New vectors, durable, staged in the graph but not yet searchable.
        writer.log.append(&puts)?;
        let staged = {
            let mut vectors = self.vectors.write();
            let start = vectors.slot_len();
            for put in &puts {
                if let VectorRecord::Put { id, vector } = put {
                    vectors.stage(*id, vector);
                }
            }
            start..vectors.slot_len()
        };
        // Linking needs only a read lock: searches go on meanwhile.
        self.vectors.read().link(staged.clone());

        // 2. Text index.
        let index_writer = writer.index_writer()?;
        for plan in plans {
            for id in plan
                .stale
                .iter()
                .chain(plan.chunks.iter().filter(|c| c.rewrite).map(|c| &c.id))
            {
                index_writer.delete_term(self.text.id_term(*id));
            }
            for chunk in plan.chunks.iter().filter(|c| c.new || c.rewrite) {
                let stored = StoredChunk {
                    id: chunk.id,
                    source: plan.source.clone(),
                    chunk_index: chunk.index,
                    text: chunk.text.clone(),
                    metadata: plan.metadata.clone(),
                };
                index_writer.add_document(self.text.document(&stored))?;
            }
        }
        if let Err(e) = index_writer.commit() {
            let _ = index_writer.rollback();
            // The staged slots stay dead; their log records are cancelled (or, should that
            // fail too, removed by reconciliation on the next open).
            let cancel: Vec<VectorRecord> = puts
                .iter()
                .map(|p| VectorRecord::Delete { id: put_id(p) })
                .collect();
            let _ = writer.log.append(&cancel);
            return Err(e.into());
        }
        let reloaded = self.text.reload();

        // 3. Stale vectors.
        let stale: Vec<ChunkId> = plans.iter().flat_map(|p| p.stale.iter().copied()).collect();
        let deletes: Vec<VectorRecord> = stale
            .iter()
            .map(|&id| VectorRecord::Delete { id })
            .collect();
        let logged = writer.log.append(&deletes);

        // 4. Memory.
        {
            let mut vectors = self.vectors.write();
            vectors.activate(staged);
            for id in &stale {
                vectors.remove(*id);
            }
        }
        let mut report = UpsertReport {
            documents: plans.len(),
            ..UpsertReport::default()
        };
        {
            let mut catalog = self.catalog.write();
            for plan in plans {
                let chunks: BTreeMap<ChunkId, u32> =
                    plan.chunks.iter().map(|c| (c.id, c.index)).collect();
                report.chunks += chunks.len();
                report.chunks_added += plan.chunks.iter().filter(|c| c.new).count();
                report.chunks_removed += plan.stale.len();
                catalog.set(
                    &plan.source,
                    DocumentEntry {
                        metadata: plan.metadata.clone(),
                        chunks,
                    },
                );
            }
        }
        reloaded?;
        logged?;
        self.compact_if_needed(writer)?;
        Ok(report)
    }

    /// Rewrites the log and rebuilds the graph when too many slots are dead. Searches keep
    /// using the old graph until the new one is swapped in.
    pub(crate) fn compact_if_needed(&self, writer: &mut Writer) -> Result<(), IndexError> {
        let rebuilt = {
            let vectors = self.vectors.read();
            let dead = vectors.dead_len();
            if dead == 0 || (dead as f64) <= COMPACT_DEAD_FRACTION * vectors.slot_len() as f64 {
                return Ok(());
            }
            writer.log.rewrite(vectors.live_vectors())?;
            tracing::info!(collection = %self.name, live = vectors.live_len(), dead, "compacting vectors");
            vectors.rebuilt()
        };
        *self.vectors.write() = rebuilt;
        Ok(())
    }
}

fn put_id(record: &VectorRecord) -> ChunkId {
    match record {
        VectorRecord::Put { id, .. } | VectorRecord::Delete { id } => *id,
    }
}

fn put_len(record: &VectorRecord) -> usize {
    match record {
        VectorRecord::Put { vector, .. } => vector.len(),
        VectorRecord::Delete { .. } => 0,
    }
}

fn validate_documents(documents: &[DocumentInput]) -> Result<(), IndexError> {
    let mut sources = HashSet::new();
    for doc in documents {
        if doc.source.is_empty() {
            return Err(IndexError::invalid("a document has an empty source"));
        }
        if !sources.insert(doc.source.as_str()) {
            return Err(IndexError::invalid(format!(
                "source '{}' appears twice in one request",
                doc.source
            )));
        }
        if doc.chunks.is_empty() || doc.chunks.iter().any(|c| c.trim().is_empty()) {
            return Err(IndexError::invalid(format!(
                "document '{}' has no text to index",
                doc.source
            )));
        }
        validate_entries(&doc.metadata, "metadata")?;
    }
    Ok(())
}
