//! The retrieval cluster as one client: the distributed heart of ragmesh, kept apart from the
//! HTTP gateway that uses it (nothing here knows about HTTP) so it can be read and tested on
//! its own.
//!
//! - [`shard_map`]: how shards and replicas are written in `gateway.retrieval_url`, and which
//!   shard owns a document (pinned forever);
//! - [`cluster`]: [`RetrievalCluster`], one upstream per shard, and the calls every operation
//!   is made of; embedding, listings, backup and restore;
//! - [`scatter`]: a search over every shard at once, and the merge of their answers, so N
//!   shards rank exactly as one index;
//! - [`writes`]: ingest and delete routed to the owner shard, replicated to every replica of
//!   it, with hinted handoff (a Redis queue per replica) for a replica that missed a write;
//! - [`call`]: what every call carries (deadline, the caller's trace and request id);
//! - [`error`]: [`RetrievalError`] and the service-naming [`ServiceError`] it wraps, both
//!   classified by the one table in `ragmesh_core`.

pub mod call;
pub mod cluster;
pub mod error;
pub mod scatter;
pub mod shard_map;
pub mod writes;

pub use call::{BackgroundWork, CallContext, grpc_request};
pub use cluster::RetrievalCluster;
pub use error::{RETRIEVAL, RetrievalError, ServiceError};
pub use shard_map::owner_shard;
