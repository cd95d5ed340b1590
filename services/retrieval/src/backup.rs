//! The `Backup` and `Restore` RPCs: a collection's archive (built by `ragmesh-index`, see
//! `Collection::backup`) streamed out in parts, and an archive streamed in, bounded in size,
//! verified and restored. Both count in `ragmesh_backup_bytes_total{op}`. A restore judges
//! the archive's head (magic, manifest) as soon as its first bytes arrive and fails at once
//! when it is wrong, or when more bytes come than the manifest lists; it never holds more
//! than the archive the manifest announces.
//! Both take a collection's write lock, so they run through `ComputePool::run_writer`.

use crate::{ComputePool, RetrievalError, RetrievalState};
use ragmesh_core::validate_collection;
use ragmesh_proto::{ArchivePart, BackupRequest, RestorePart, RestoreResponse};
use std::sync::Arc;
use tonic::Streaming;

/// Size of one streamed part.
pub const PART_BYTES: usize = 1024 * 1024;
/// Largest archive a restore accepts (the gateway enforces its own, configurable, bound).
pub const MAX_ARCHIVE_BYTES: usize = 4 * 1024 * 1024 * 1024;

/// The archive of a collection, split into parts.
pub(crate) async fn backup(
    state: &Arc<RetrievalState>,
    pool: &ComputePool,
    request: BackupRequest,
) -> Result<Vec<ArchivePart>, RetrievalError> {
    let name = validate_collection(&request.collection)?.to_string();
    let state = Arc::clone(state);
    let (manifest, archive) = pool
        .run_writer(move |_| Ok(state.collections.get(&name)?.backup()?))
        .await?;
    metrics::counter!("ragmesh_backup_bytes_total", "op" => "backup")
        .increment(archive.len() as u64);
    tracing::info!(
        collection = %manifest.collection,
        documents = manifest.documents,
        chunks = manifest.chunks,
        bytes = archive.len(),
        "backup taken"
    );
    Ok(archive
        .chunks(PART_BYTES)
        .map(|part| ArchivePart {
            data: part.to_vec(),
        })
        .collect())
}

pub(crate) async fn restore(
    state: &Arc<RetrievalState>,
    pool: &ComputePool,
    mut parts: Streaming<RestorePart>,
) -> Result<RestoreResponse, RetrievalError> {
    let mut archive = Vec::new();
    let mut options = None;
    let mut head: Option<ragmesh_index::BackupHead> = None;
    while let Some(part) = parts
        .message()
        .await
        .map_err(|e| RetrievalError::invalid(format!("restore stream broke: {}", e.message())))?
    {
        options.get_or_insert_with(|| (part.collection.clone(), part.replace));
        if archive.len() + part.data.len() > MAX_ARCHIVE_BYTES {
            return Err(RetrievalError::invalid(format!(
                "archive larger than {MAX_ARCHIVE_BYTES} bytes"
            )));
        }
        archive.extend_from_slice(&part.data);
        if let Some(found) = &head {
            if archive.len() as u64 > found.total_bytes {
                return Err(ragmesh_index::IndexError::BadArchive(format!(
                    "more bytes than the manifest lists ({})",
                    found.total_bytes
                ))
                .into());
            }
        } else if let Some(found) = ragmesh_index::check_backup_head(&archive)? {
            if found.total_bytes > MAX_ARCHIVE_BYTES as u64 {
                return Err(RetrievalError::invalid(format!(
                    "the archive announces {} bytes, more than {MAX_ARCHIVE_BYTES}",
                    found.total_bytes
                )));
            }
            // Exactly the announced size: no doubling as the rest arrives.
            archive.reserve_exact((found.total_bytes as usize).saturating_sub(archive.len()));
            head = Some(found);
        }
    }
    let (name, replace) = options.unwrap_or_default();
    if !name.is_empty() {
        validate_collection(&name)?;
    }
    metrics::counter!("ragmesh_backup_bytes_total", "op" => "restore")
        .increment(archive.len() as u64);
    let state = Arc::clone(state);
    let report = pool
        .run_writer(move |_| {
            let name = (!name.is_empty()).then_some(name.as_str());
            let report = state.collections.restore(&archive, name, replace)?;
            crate::ingest::record_collection_size(
                &state.collections.get(&report.collection)?.info(),
            );
            Ok(report)
        })
        .await?;
    Ok(RestoreResponse {
        collection: report.collection,
        documents: report.documents as u32,
        chunks: report.chunks as u32,
        replaced: report.replaced,
    })
}
