//! Writes to a retrieval shard with several replicas, and hinted handoff for a replica that
//! missed some.
//!
//! A write (ingest or delete) goes to every replica of its shard that is in sync, at once.
//! It succeeds when at least one replica applied it; each replica that did not answer gets
//! the write appended to its queue in Redis ([`HandoffStore`]) and is *fenced*: it serves no
//! reads until its queue is empty. A replica already behind (queue not empty) gets new writes
//! through its queue too, after the older ones, so it applies them in order. The replay task
//! of every gateway ([`crate::writes::handoff::replay`]) sends each queue's writes to its
//! replica, oldest first.
//!
//! When a write cannot be kept for a replica that needs it (Redis unreachable, or not
//! configured), the request fails with a 503 naming the shard rather than let replicas
//! diverge silently; the client retries (writes are idempotent).

use crate::call::{CallContext, grpc_request};
use crate::error::{RETRIEVAL, RetrievalError, ServiceError};
use crate::writes::handoff::store::{HandoffStore, ShardWrite};
use ragmesh_proto::v1::retrieval_client::RetrievalClient;
use ragmesh_proto::v1::{DeleteResponse, IngestResponse};
use ragmesh_rpc::{CallError, Upstream};
use std::time::Duration;

/// A replica's answer to a write.
#[derive(Debug, Clone)]
pub enum WriteAnswer {
    Ingest(IngestResponse),
    Delete(DeleteResponse),
}

/// Sends `write` to replica `index` of `upstream` only.
pub async fn send(
    upstream: &Upstream,
    index: usize,
    write: &ShardWrite,
    ctx: &dyn CallContext,
    timeout: Duration,
) -> Result<WriteAnswer, CallError> {
    match write {
        ShardWrite::Ingest(message) => upstream
            .call_instance(index, timeout, |channel, left| {
                let request = grpc_request(ctx, message.clone(), left);
                async move { RetrievalClient::new(channel).ingest(request).await }
            })
            .await
            .map(WriteAnswer::Ingest),
        ShardWrite::Delete(message) => upstream
            .call_instance(index, timeout, |channel, left| {
                let request = grpc_request(ctx, message.clone(), left);
                async move { RetrievalClient::new(channel).delete(request).await }
            })
            .await
            .map(WriteAnswer::Delete),
    }
}

/// The writes of one gateway to replicated shards.
#[derive(Debug)]
pub struct Replication {
    /// None: no Redis configured, so a replica that misses a write fails the write.
    pub(crate) store: Option<HandoffStore>,
    overload_retry_after_s: u64,
}

impl Replication {
    pub fn new(store: Option<HandoffStore>, overload_retry_after_s: u64) -> Replication {
        Replication {
            store,
            overload_retry_after_s,
        }
    }

    /// Applies `write` on the replicas of shard `shard` (0-based, of `shards`) as the module
    /// header says.
    pub async fn write(
        &self,
        (shard, shards): (usize, usize),
        upstream: &Upstream,
        write: ShardWrite,
        ctx: &dyn CallContext,
        timeout: Duration,
    ) -> Result<WriteAnswer, RetrievalError> {
        let unavailable = |message: String| RetrievalError::ShardUnavailable {
            shard: shard + 1,
            shards,
            message,
        };
        let n = upstream.len();
        let mut behind: Vec<bool> = (0..n).map(|i| upstream.is_fenced(i)).collect();
        if let Some(store) = &self.store {
            for (i, is_behind) in behind.iter_mut().enumerate() {
                match store.pending(upstream.url(i)).await {
                    Ok(0) => {}
                    Ok(_) => {
                        *is_behind = true;
                        upstream.set_fenced(i, true);
                    }
                    // Unknown: only this gateway's view (the fence) counts.
                    Err(e) => tracing::debug!(error = %e, "handoff queue length unknown"),
                }
            }
        }
        if behind.iter().all(|b| *b) {
            return Err(unavailable(
                "no replica is in sync (every one is catching up on missed writes)".into(),
            ));
        }
        for i in (0..n).filter(|&i| behind[i]) {
            self.keep_for(upstream.url(i), &write).await.map_err(|e| {
                unavailable(format!(
                    "replica {} is catching up and the write cannot be queued for it: {e}",
                    upstream.url(i)
                ))
            })?;
        }
        let in_sync: Vec<usize> = (0..n).filter(|&i| !behind[i]).collect();
        let results = futures::future::join_all(
            in_sync
                .iter()
                .map(|&i| send(upstream, i, &write, ctx, timeout)),
        )
        .await;
        let mut answer = None;
        let mut missed = Vec::new();
        let mut rejection = None;
        for (&i, result) in in_sync.iter().zip(results) {
            match result {
                Ok(a) => {
                    answer.get_or_insert(a);
                }
                Err(e) if e.is_backend_failure() => missed.push((i, e)),
                Err(e) => {
                    // An answer, but an error one: the write is refused (the same way by
                    // every replica, as they run the same code on the same data).
                    missed.push((i, CallError::Status(tonic::Status::unknown("refused"))));
                    rejection.get_or_insert(e);
                }
            }
        }
        let Some(answer) = answer else {
            if let Some(e) = rejection {
                return Err(RetrievalError::Service(ServiceError::from_call(
                    RETRIEVAL,
                    e,
                    self.overload_retry_after_s,
                )));
            }
            let why = missed
                .first()
                .map(|(i, e)| format!("{}: {}", upstream.url(*i), describe(e)))
                .unwrap_or_default();
            return Err(unavailable(format!("no replica answered ({why})")));
        };
        for (i, e) in missed {
            let url = upstream.url(i);
            tracing::warn!(shard = shard + 1, replica = url, error = %describe(&e), "replica missed a write; keeping it for the replica");
            self.keep_for(url, &write).await.map_err(|why| {
                unavailable(format!(
                    "the write was applied on another replica, but replica {url} missed it and it cannot be kept for it: {why}; retry the request (writes are idempotent)"
                ))
            })?;
            upstream.set_fenced(i, true);
        }
        Ok(answer)
    }

    async fn keep_for(&self, replica: &str, write: &ShardWrite) -> Result<(), String> {
        match &self.store {
            Some(store) => store.push(replica, write).await,
            None => Err(
                "no handoff store: set gateway.handoff_redis_url (or cache.l2_redis_url)".into(),
            ),
        }
    }
}

pub(crate) fn describe(err: &CallError) -> String {
    match err {
        CallError::Open { .. } => "circuit breaker open".into(),
        CallError::DeadlineExceeded { timeout } => {
            format!("no answer within {} ms", timeout.as_millis())
        }
        CallError::Status(status) => format!("{:?}: {}", status.code(), status.message()),
    }
}
