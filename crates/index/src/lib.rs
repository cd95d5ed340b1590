//! Chunking, indexing and hybrid search for ragmesh, with no model dependency: callers
//! bring word-piece offsets (for chunking) and vectors (for indexing and search).
//!
//! A [`Collection`] keeps chunks in a tantivy index (BM25, exact-match filters, stored text)
//! and vectors in a durable log feeding an in-memory HNSW graph; [`Collections`] opens them
//! from a data directory. Searches run the BM25 and vector legs concurrently and fuse them
//! with score fusion or reciprocal rank fusion ([`fusion`]).

mod backup_archive;
mod bm25_stats;
mod catalog;
mod chunk_id;
mod chunker;
mod collection;
mod error;
pub mod fusion;
mod metadata;
mod registry;
mod results;
mod schema;
mod text_index;
mod vector_index;
mod vector_log;

pub use backup_archive::{
    ArchiveHead as BackupHead, FORMAT_VERSION as BACKUP_FORMAT_VERSION, Manifest as BackupManifest,
    check_head as check_backup_head,
};
pub use bm25_stats::Bm25Stats;
pub use chunk_id::ChunkId;
pub use chunker::{Chunker, TextChunk};
pub use collection::{
    Collection, CollectionInfo, DocumentInfo, DocumentInput, OpenReport, RestoreReport,
    UpsertReport,
};
pub use error::IndexError;
pub use metadata::{Filters, Metadata, SOURCE_FILTER_KEY, validate_entries};
pub use registry::Collections;
pub use results::{
    FusionMethod, LegHit, MIN_LEG_DEPTH, Method, SearchHit, SearchLegs, SearchRequest,
    SearchResults, StepTimings,
};
pub use vector_index::{dot, ef_search, normalized};
