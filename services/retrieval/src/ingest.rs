//! The `Ingest` and `Delete` RPCs: validate documents, chunk them by the model's word
//! pieces, embed only chunks the collection does not hold yet (in batches, on the compute
//! pool) and upsert them (the write lock is taken off the pool, see `ComputePool::run_writer`); delete a source from every index. Records
//! `ragmesh_ingest_documents_total`, `ragmesh_ingest_chunks_total{change}`,
//! `ragmesh_ingest_failures_total{kind=client|server}` and the collection's size gauges
//! (`ragmesh_index_documents{collection}`, `ragmesh_index_chunks{collection}`,
//! `ragmesh_index_vectors{collection}`).

use crate::{ComputePool, RetrievalError, RetrievalState};
use ragmesh_core::{Classify, validate_collection};
use ragmesh_index::{DocumentInput, Metadata, validate_entries};
use ragmesh_proto::{DeleteRequest, DeleteResponse, Document, IngestRequest, IngestResponse};
use std::collections::HashSet;
use std::sync::Arc;

/// Longest source name, in characters.
pub const MAX_SOURCE_CHARS: usize = 512;
/// Most documents one request may carry.
pub const MAX_DOCUMENTS: usize = 10_000;

pub(crate) async fn ingest(
    state: &Arc<RetrievalState>,
    pool: &ComputePool,
    request: IngestRequest,
) -> Result<IngestResponse, RetrievalError> {
    let result = ingest_documents(state, pool, request).await;
    if let Err(e) = &result {
        let kind = if e.code().http().is_server_error() {
            "server"
        } else {
            "client"
        };
        metrics::counter!("ragmesh_ingest_failures_total", "kind" => kind).increment(1);
    }
    result
}

/// Creates the failure counters at zero, so alerts and dashboards see the series (and a rate
/// of 0) before the first failure.
pub(crate) fn register_failure_counters() {
    for kind in ["client", "server"] {
        metrics::counter!("ragmesh_ingest_failures_total", "kind" => kind).increment(0);
    }
}

/// Sets the size gauges of one collection (after every change, and at start-up for all).
pub(crate) fn record_collection_size(info: &ragmesh_index::CollectionInfo) {
    metrics::gauge!("ragmesh_index_documents", "collection" => info.name.clone())
        .set(info.documents as f64);
    metrics::gauge!("ragmesh_index_chunks", "collection" => info.name.clone())
        .set(info.chunks as f64);
    metrics::gauge!("ragmesh_index_vectors", "collection" => info.name.clone())
        .set(info.vectors as f64);
}

async fn ingest_documents(
    state: &Arc<RetrievalState>,
    pool: &ComputePool,
    request: IngestRequest,
) -> Result<IngestResponse, RetrievalError> {
    let collection_name = validate_collection(&request.collection)?.to_string();
    validate_documents(&request.documents)?;
    let state = Arc::clone(state);
    pool.run_writer(move |pool| {
        let documents = pool.install(|| {
            request
                .documents
                .into_iter()
                .map(|document| chunk_document(&state, document))
                .collect::<Result<Vec<_>, _>>()
        })?;
        let collection = state.collections.get_or_create(&collection_name)?;
        let report = collection.upsert(documents, |texts: &[&str]| {
            pool.install(|| state.embed_batched(texts))
        })?;
        metrics::counter!("ragmesh_ingest_chunks_total", "change" => "added")
            .increment(report.chunks_added as u64);
        metrics::counter!("ragmesh_ingest_chunks_total", "change" => "removed")
            .increment(report.chunks_removed as u64);
        metrics::counter!("ragmesh_ingest_documents_total").increment(report.documents as u64);
        record_collection_size(&collection.info());
        tracing::info!(
            collection = %collection_name,
            documents = report.documents,
            chunks = report.chunks,
            added = report.chunks_added,
            removed = report.chunks_removed,
            "ingested"
        );
        Ok(IngestResponse {
            collection: collection_name,
            documents: report.documents as u32,
            chunks: report.chunks as u32,
            chunks_added: report.chunks_added as u32,
            chunks_removed: report.chunks_removed as u32,
        })
    })
    .await
}

pub(crate) async fn delete(
    state: &Arc<RetrievalState>,
    pool: &ComputePool,
    request: DeleteRequest,
) -> Result<DeleteResponse, RetrievalError> {
    let collection_name = validate_collection(&request.collection)?.to_string();
    validate_source(&request.source)?;
    let state = Arc::clone(state);
    pool.run_writer(move |_| {
        let collection = state.collections.get(&collection_name)?;
        let deleted = collection.delete_source(&request.source)?;
        record_collection_size(&collection.info());
        tracing::info!(collection = %collection_name, source = %request.source, chunks = deleted, "deleted");
        Ok(DeleteResponse { chunks_deleted: deleted as u32 })
    })
    .await
}

fn validate_documents(documents: &[Document]) -> Result<(), RetrievalError> {
    if documents.is_empty() {
        return Err(RetrievalError::invalid("documents must not be empty"));
    }
    if documents.len() > MAX_DOCUMENTS {
        return Err(RetrievalError::invalid(format!(
            "{} documents given; at most {MAX_DOCUMENTS} per request",
            documents.len()
        )));
    }
    let mut sources = HashSet::new();
    for document in documents {
        validate_source(&document.source)?;
        if !sources.insert(document.source.as_str()) {
            return Err(RetrievalError::invalid(format!(
                "source '{}' appears more than once in the request",
                document.source
            )));
        }
        if document.text.trim().is_empty() {
            return Err(RetrievalError::invalid(format!(
                "document '{}' has an empty text",
                document.source
            )));
        }
        validate_entries(&to_metadata(&document.metadata), "metadata")?;
    }
    Ok(())
}

fn validate_source(source: &str) -> Result<(), RetrievalError> {
    if source.trim().is_empty() {
        return Err(RetrievalError::invalid("source must not be empty"));
    }
    let chars = source.chars().count();
    if chars > MAX_SOURCE_CHARS {
        return Err(RetrievalError::invalid(format!(
            "source has {chars} characters; at most {MAX_SOURCE_CHARS}"
        )));
    }
    if source.chars().any(char::is_control) {
        return Err(RetrievalError::invalid(
            "source must not contain control characters",
        ));
    }
    Ok(())
}

/// Cuts a document into chunks along the embedding model's word pieces.
fn chunk_document(
    state: &RetrievalState,
    document: Document,
) -> Result<DocumentInput, RetrievalError> {
    let offsets = state.embedder.token_offsets(&document.text)?;
    let chunks: Vec<String> = state
        .chunker
        .chunk(&document.text, &offsets)?
        .into_iter()
        .map(|c| c.text.to_string())
        .collect();
    if chunks.is_empty() {
        return Err(RetrievalError::invalid(format!(
            "document '{}' has no text the embedding model can read",
            document.source
        )));
    }
    Ok(DocumentInput {
        metadata: to_metadata(&document.metadata),
        source: document.source,
        chunks,
    })
}

pub(crate) fn to_metadata(map: &std::collections::HashMap<String, String>) -> Metadata {
    map.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}
