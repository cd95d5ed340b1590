//! The retrieval backend as one client: one or more shards (see [`crate::shard_map`]), each
//! an [`Upstream`] over its replicas.
//!
//! With one shard every call is what it always was: one RPC through the shard's upstream
//! (reads go to any healthy replica and are retried once on another; a write to a shard of one
//! replica is never retried). With several:
//!
//! - a query is scattered to every shard in parallel and gathered ([`crate::scatter`]): the
//!   query is embedded once, the shards' BM25 counts are summed (`TermStats`), every shard
//!   returns its legs scored with those counts (`Retrieve` with `legs`), and the legs are
//!   merged and fused as one index would — so two shards rank exactly as one;
//! - an ingest is split by owner shard and each part sent to its shard; a delete goes to the
//!   owner of the source ([`crate::writes`], with replication and hinted handoff for shards of
//!   several replicas);
//! - listings are gathered from every shard and added up;
//! - a shard none of whose replicas answers fails the request naming it
//!   (`retrieval shard 2 of 3 is unavailable: ...`): results are never silently partial.
//!
//! A shard may not hold a collection at all (none of its documents landed there): for reads
//! its NOT_FOUND counts as empty, and the collection is unknown only when every shard says so.
//! This file holds the cluster itself and the calls every operation is made of (a read on one
//! shard, a call gathered from every shard), plus the reads that need nothing more.

use crate::call::{CallContext, client, grpc_request};
use crate::error::{RETRIEVAL, RetrievalError, ServiceError};
use crate::scatter::merge::{merge_collections, merge_documents};
use crate::shard_map::parse_shards;
use crate::writes::handoff::replay::spawn_replay;
use crate::writes::handoff::store::HandoffStore;
use crate::writes::replication::Replication;
use ragmesh_config::Settings;
use ragmesh_core::{Classify, ErrorCode};
use ragmesh_proto::v1::{
    ArchivePart, BackupRequest, EmbedRequest, EmbedResponse, ListCollectionsRequest,
    ListCollectionsResponse, ListDocumentsRequest, ListDocumentsResponse, RestorePart,
    RestoreResponse,
};
use ragmesh_rpc::{CallError, ClientOptions, Retry, Upstream};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;

/// The retrieval cluster: its shards' upstreams and the replication of their writes.
pub struct RetrievalCluster {
    pub(crate) shards: Vec<Arc<Upstream>>,
    pub(crate) replication: Arc<Replication>,
    pub(crate) rpc_timeout: Duration,
    pub(crate) ingest_timeout: Duration,
    overload_retry_after_s: u64,
    /// Which shard embeds the next query (several shards take turns).
    next_embed: AtomicUsize,
}

impl RetrievalCluster {
    /// Lazily dialled upstreams for every shard in `gateway.retrieval_url`, the handoff store
    /// when a shard has replicas, and the replay task. Must run inside a tokio runtime.
    pub fn connect(
        settings: &Settings,
        rpc_timeout: Duration,
        ingest_timeout: Duration,
    ) -> Result<RetrievalCluster, RetrievalError> {
        let value = &settings.gateway.retrieval_url;
        let groups = parse_shards(value);
        let bad_url = |reason: String| {
            RetrievalError::Service(ServiceError::BadUrl {
                service: RETRIEVAL,
                url: value.clone(),
                reason,
            })
        };
        if groups.is_empty() {
            return Err(bad_url("no URL".into()));
        }
        let mut options = ClientOptions::from_settings(&settings.rpc);
        options.connect_timeout = options.connect_timeout.min(rpc_timeout);
        let count = groups.len();
        let shards = groups
            .iter()
            .enumerate()
            .map(|(i, urls)| {
                // Metrics and breakers name each shard once there are several.
                let name: &'static str = if count == 1 {
                    RETRIEVAL
                } else {
                    Box::leak(format!("retrieval-shard-{}", i + 1).into_boxed_str())
                };
                Upstream::new(
                    name,
                    urls,
                    &options,
                    &settings.rpc.breaker,
                    settings.rpc.retry_idempotent,
                )
                .map(Arc::new)
                .map_err(|e| bad_url(e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let replicated = shards.iter().any(|s| s.len() > 1);
        let store = match (
            replicated,
            settings
                .gateway
                .handoff_redis_url
                .as_ref()
                .or(settings.cache.l2_redis_url.as_ref()),
        ) {
            (true, Some(url)) => Some(
                HandoffStore::start(url, &settings.gateway.handoff_key_prefix)
                    .map_err(RetrievalError::InvalidArgument)?,
            ),
            (true, None) => {
                tracing::warn!(
                    "retrieval shards have replicas but no handoff Redis is set: a write that misses a replica will fail"
                );
                None
            }
            (false, _) => None,
        };
        let replication = Arc::new(Replication::new(store, settings.rpc.overload_retry_after_s));
        spawn_replay(Arc::clone(&replication), shards.clone(), ingest_timeout);
        Ok(RetrievalCluster {
            shards,
            replication,
            rpc_timeout,
            ingest_timeout,
            overload_retry_after_s: settings.rpc.overload_retry_after_s,
            next_embed: AtomicUsize::new(0),
        })
    }

    /// The shards' upstreams, in order.
    pub fn shards(&self) -> &[Arc<Upstream>] {
        &self.shards
    }

    pub(crate) fn count(&self) -> usize {
        self.shards.len()
    }

    /// The error for a failed call to shard `shard`: as for any service with one shard; with
    /// several, "unavailable" names the shard.
    pub(crate) fn shard_error(&self, shard: usize, err: CallError) -> RetrievalError {
        let mapped = ServiceError::from_call(RETRIEVAL, err, self.overload_retry_after_s);
        if self.count() > 1
            && matches!(
                mapped,
                ServiceError::Unavailable { .. } | ServiceError::CircuitOpen { .. }
            )
        {
            return RetrievalError::ShardUnavailable {
                shard: shard + 1,
                shards: self.count(),
                message: mapped.to_string(),
            };
        }
        RetrievalError::Service(mapped)
    }

    /// A read on shard `shard`: any healthy replica, retried once on another.
    pub(crate) async fn read<T, F, Fut>(
        &self,
        shard: usize,
        timeout: Duration,
        attempt: F,
    ) -> Result<T, RetrievalError>
    where
        F: FnMut(Channel, Duration) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        self.shards[shard]
            .call(Retry::OnAnotherInstance, timeout, attempt)
            .await
            .map_err(|e| self.shard_error(shard, e))
    }

    /// Backup and restore go through the gateway with one shard only (see
    /// docs/operations.md "Backups").
    fn single_shard_for(&self, what: &str) -> Result<(), RetrievalError> {
        if self.count() == 1 {
            return Ok(());
        }
        Err(RetrievalError::InvalidArgument(format!(
            "{what} through the gateway needs a single retrieval shard, and this gateway has {}: \
             back up each shard from one of its replicas (through a gateway whose retrieval_url \
             is that replica alone) and restore each archive on every replica of its shard",
            self.count()
        )))
    }

    pub async fn backup(
        &self,
        message: BackupRequest,
        ctx: &dyn CallContext,
    ) -> Result<tonic::Streaming<ArchivePart>, RetrievalError> {
        self.single_shard_for("backup")?;
        self.shards[0]
            .call(Retry::Never, self.ingest_timeout, |channel, left| {
                let request = grpc_request(ctx, message.clone(), left);
                async move { client(channel).backup(request).await }
            })
            .await
            .map_err(|e| self.shard_error(0, e))
    }

    /// Not retried (a restore whose answer was lost may have been applied). With replicas,
    /// it reaches one of them only: restore each replica of a replicated shard directly.
    pub async fn restore(
        &self,
        parts: tokio::sync::mpsc::Receiver<RestorePart>,
        ctx: &dyn CallContext,
    ) -> Result<RestoreResponse, RetrievalError> {
        self.single_shard_for("restore")?;
        // The parts are streamed as they come (never all held): the one attempt
        // (`Retry::Never`) takes the channel. (A channel, not any stream: tonic's call future
        // holds the stream where it must be `Sync` for the handler's future to be `Send`.)
        let mut parts = Some(parts);
        self.shards[0]
            .call(Retry::Never, self.ingest_timeout, |channel, left| {
                let parts = parts
                    .take()
                    .unwrap_or_else(|| tokio::sync::mpsc::channel(1).1);
                let request = grpc_request(ctx, ReceiverStream::new(parts), left);
                async move { client(channel).restore(request).await }
            })
            .await
            .map_err(|e| self.shard_error(0, e))
    }

    /// Embeds texts on one shard (they all have the model; with several, they take turns and a
    /// shard that is down passes the call to the next).
    pub async fn embed(
        &self,
        message: EmbedRequest,
        ctx: &dyn CallContext,
    ) -> Result<EmbedResponse, RetrievalError> {
        let n = self.count();
        let start = self.next_embed.fetch_add(1, Ordering::Relaxed);
        let mut last = None;
        for shard in (0..n).map(|i| (start + i) % n) {
            let result = self
                .read(shard, self.rpc_timeout, |channel, left| {
                    let request = grpc_request(ctx, message.clone(), left);
                    async move { client(channel).embed(request).await }
                })
                .await;
            match result {
                Err(e @ RetrievalError::ShardUnavailable { .. }) => last = Some(e),
                other => return other,
            }
        }
        Err(last.unwrap_or_else(RetrievalError::no_answer))
    }

    /// Runs `call` on every shard in parallel; a shard without the collection (NOT_FOUND)
    /// is left out, unless every shard lacks it. Any other failure fails the whole call.
    pub(crate) async fn gather<T, F, Fut>(&self, call: F) -> Result<Vec<T>, RetrievalError>
    where
        F: Fn(usize) -> Fut,
        Fut: Future<Output = Result<T, RetrievalError>>,
    {
        let results = futures::future::join_all((0..self.count()).map(&call)).await;
        let mut found = Vec::new();
        let mut not_found = None;
        for result in results {
            match result {
                Ok(value) => found.push(value),
                Err(e) if e.code() == ErrorCode::NotFound => not_found = Some(e),
                Err(e) => return Err(e),
            }
        }
        match not_found {
            Some(e) if found.is_empty() => Err(e),
            _ => Ok(found),
        }
    }

    pub async fn list_collections(
        &self,
        ctx: &dyn CallContext,
    ) -> Result<ListCollectionsResponse, RetrievalError> {
        let parts = self
            .gather(|shard| async move {
                self.read(shard, self.rpc_timeout, |channel, left| {
                    let request = grpc_request(ctx, ListCollectionsRequest {}, left);
                    async move { client(channel).list_collections(request).await }
                })
                .await
            })
            .await?;
        if self.count() == 1 {
            return parts
                .into_iter()
                .next()
                .ok_or_else(RetrievalError::no_answer);
        }
        Ok(merge_collections(parts))
    }

    pub async fn list_documents(
        &self,
        message: ListDocumentsRequest,
        ctx: &dyn CallContext,
    ) -> Result<ListDocumentsResponse, RetrievalError> {
        let parts = self
            .gather(|shard| {
                let message = message.clone();
                async move {
                    self.read(shard, self.rpc_timeout, |channel, left| {
                        let request = grpc_request(ctx, message.clone(), left);
                        async move { client(channel).list_documents(request).await }
                    })
                    .await
                }
            })
            .await?;
        if self.count() == 1 {
            return parts
                .into_iter()
                .next()
                .ok_or_else(RetrievalError::no_answer);
        }
        Ok(merge_documents(parts))
    }
}
