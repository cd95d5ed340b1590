//! The replay task of every gateway: it sends each handoff queue's writes to its replica,
//! oldest first, under a Redis lock so one gateway replays a queue at a time, and unfences a
//! replica whose queue is empty. A write is removed only once the replica applied it (writes
//! are idempotent, so one sent twice after a crash is harmless); one the replica refuses is
//! dropped with a warning.

use crate::call::BackgroundWork;
use crate::writes::handoff::store::HandoffStore;
use crate::writes::replication::{Replication, describe, send};
use ragmesh_rpc::Upstream;
use std::sync::Arc;
use std::time::Duration;

/// How often each gateway looks at the handoff queues.
const REPLAY_EVERY: Duration = Duration::from_millis(500);
/// How long one gateway may replay a queue before letting go of its lock.
const REPLAY_LOCK: Duration = Duration::from_secs(30);
/// Writes replayed per queue and turn (the lock is held for less than `REPLAY_LOCK`).
const REPLAY_BATCH: usize = 200;

/// Starts this gateway's replay task over every replicated shard (runs for the life of the
/// process; only shards with more than one replica have queues).
pub fn spawn_replay(replication: Arc<Replication>, shards: Vec<Arc<Upstream>>, timeout: Duration) {
    if replication.store.is_none() || shards.iter().all(|s| s.len() < 2) {
        return;
    }
    let token = uuid::Uuid::new_v4().simple().to_string();
    tokio::spawn(async move {
        let Some(store) = &replication.store else {
            return;
        };
        let mut tick = tokio::time::interval(REPLAY_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            for upstream in shards.iter().filter(|s| s.len() > 1) {
                for i in 0..upstream.len() {
                    replay_one(store, upstream, i, &token, timeout).await;
                }
            }
        }
    });
}

/// One turn for replica `index`: unfence it when its queue is empty, else replay a batch.
async fn replay_one(
    store: &HandoffStore,
    upstream: &Upstream,
    index: usize,
    token: &str,
    timeout: Duration,
) {
    let url = upstream.url(index);
    match store.pending(url).await {
        Err(_) => {}
        Ok(0) => {
            if upstream.is_fenced(index) {
                tracing::info!(replica = url, "replica caught up; serving reads again");
                upstream.set_fenced(index, false);
            }
        }
        Ok(pending) => {
            upstream.set_fenced(index, true);
            if !store.try_lock(url, token, REPLAY_LOCK).await {
                return;
            }
            let ctx = BackgroundWork::start();
            let mut replayed = 0;
            while replayed < REPLAY_BATCH {
                let write = match store.front(url).await {
                    Ok(Some(write)) => write,
                    Ok(None) | Err(_) => break,
                };
                match send(upstream, index, &write, &ctx, timeout).await {
                    Ok(_) => {}
                    // Still down: try again next turn.
                    Err(e) if e.is_backend_failure() => break,
                    Err(e) => tracing::warn!(
                        replica = url,
                        error = %describe(&e),
                        "replica refused a handed-off write; dropping it"
                    ),
                }
                if store.pop_front(url).await.is_err() {
                    break;
                }
                replayed += 1;
            }
            if replayed > 0 {
                metrics::counter!("ragmesh_handoff_replayed_total").increment(replayed as u64);
                tracing::info!(replica = url, replayed, pending, "replayed missed writes");
            }
            store.unlock(url).await;
        }
    }
}
