//! Where the writes a retrieval replica missed wait for it (hinted handoff): one Redis list
//! per replica, shared by every gateway (gateways are stateless, so the queue cannot live in
//! one of them), with fred, the client the semantic cache already uses.
//!
//! Keys (under `gateway.handoff_key_prefix`, `P`):
//!
//! | key | type | holds |
//! |---|---|---|
//! | `P:q:URL` | list | the missed writes of the replica at URL, oldest first |
//! | `P:lock:URL` | string, PX | which gateway is replaying that list now |
//!
//! A write is stored as `i`/`d` (ingest/delete) plus the hex of its protobuf encoding.

use fred::prelude::*;
use prost::Message;
use ragmesh_proto::v1::{DeleteRequest, IngestRequest};
use std::time::Duration;

/// Deadline of every Redis command of the handoff.
const COMMAND_TIMEOUT: Duration = Duration::from_millis(500);

/// A write to one shard, as sent to each replica and kept for a replica that missed it.
#[derive(Debug, Clone, PartialEq)]
pub enum ShardWrite {
    Ingest(IngestRequest),
    Delete(DeleteRequest),
}

impl ShardWrite {
    pub fn encode(&self) -> String {
        let (tag, bytes) = match self {
            ShardWrite::Ingest(m) => ('i', m.encode_to_vec()),
            ShardWrite::Delete(m) => ('d', m.encode_to_vec()),
        };
        format!("{tag}{}", hex::encode(bytes))
    }

    pub fn decode(text: &str) -> Option<ShardWrite> {
        let bytes = hex::decode(text.get(1..)?).ok()?;
        match text.chars().next()? {
            'i' => IngestRequest::decode(bytes.as_slice())
                .ok()
                .map(ShardWrite::Ingest),
            'd' => DeleteRequest::decode(bytes.as_slice())
                .ok()
                .map(ShardWrite::Delete),
            _ => None,
        }
    }
}

/// The handoff queues in Redis. Errors are messages (they end in a 503 naming the shard).
pub struct HandoffStore {
    client: Client,
    prefix: String,
}

impl std::fmt::Debug for HandoffStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HandoffStore")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl HandoffStore {
    /// Connects in the background (returns at once, also while Redis is down).
    pub fn start(url: &str, prefix: &str) -> Result<HandoffStore, String> {
        let config =
            Config::from_url(url).map_err(|e| format!("handoff Redis URL {url:?}: {e}"))?;
        let mut builder = Builder::from_config(config);
        builder
            .with_config(|c| c.fail_fast = true)
            .with_performance_config(|p| p.default_command_timeout = COMMAND_TIMEOUT)
            .with_connection_config(|c| {
                c.connection_timeout = COMMAND_TIMEOUT;
                c.max_command_attempts = 1;
            })
            .set_policy(ReconnectPolicy::new_exponential(0, 50, 1_000, 2));
        let client = builder.build().map_err(|e| e.to_string())?;
        // The connection task runs detached for the life of the process (fred reconnects).
        drop(client.connect());
        Ok(HandoffStore {
            client,
            prefix: prefix.to_string(),
        })
    }

    fn queue_key(&self, replica: &str) -> String {
        format!("{}:q:{replica}", self.prefix)
    }

    fn lock_key(&self, replica: &str) -> String {
        format!("{}:lock:{replica}", self.prefix)
    }

    async fn run<T>(
        &self,
        what: &str,
        call: impl Future<Output = Result<T, fred::error::Error>>,
    ) -> Result<T, String> {
        match tokio::time::timeout(COMMAND_TIMEOUT * 2, call).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(format!("handoff Redis {what}: {e}")),
            Err(_) => Err(format!(
                "handoff Redis {what}: no answer within {} ms",
                (COMMAND_TIMEOUT * 2).as_millis()
            )),
        }
    }

    /// Writes waiting for `replica`.
    pub async fn pending(&self, replica: &str) -> Result<u64, String> {
        self.run("LLEN", self.client.llen(self.queue_key(replica)))
            .await
    }

    /// Appends a write `replica` missed.
    pub async fn push(&self, replica: &str, write: &ShardWrite) -> Result<(), String> {
        let _: i64 = self
            .run(
                "RPUSH",
                self.client.rpush(self.queue_key(replica), write.encode()),
            )
            .await?;
        Ok(())
    }

    /// The oldest write waiting for `replica` (None: none; an entry that does not decode is
    /// dropped with a warning).
    pub async fn front(&self, replica: &str) -> Result<Option<ShardWrite>, String> {
        loop {
            let text: Option<String> = self
                .run("LINDEX", self.client.lindex(self.queue_key(replica), 0))
                .await?;
            let Some(text) = text else {
                return Ok(None);
            };
            if let Some(write) = ShardWrite::decode(&text) {
                return Ok(Some(write));
            }
            tracing::warn!(replica, "dropping a handoff entry that does not decode");
            self.pop_front(replica).await?;
        }
    }

    /// Removes the oldest write waiting for `replica` (after it was applied).
    pub async fn pop_front(&self, replica: &str) -> Result<(), String> {
        let _: Option<String> = self
            .run("LPOP", self.client.lpop(self.queue_key(replica), None))
            .await?;
        Ok(())
    }

    /// Takes the replay lock of `replica` for `hold` (false: another gateway holds it).
    pub async fn try_lock(&self, replica: &str, token: &str, hold: Duration) -> bool {
        let set: Result<Option<String>, String> = self
            .run(
                "SET NX",
                self.client.set(
                    self.lock_key(replica),
                    token,
                    Some(Expiration::PX(hold.as_millis() as i64)),
                    Some(SetOptions::NX),
                    false,
                ),
            )
            .await;
        matches!(set, Ok(Some(_)))
    }

    pub async fn unlock(&self, replica: &str) {
        let _: Result<i64, String> = self
            .run("DEL", self.client.del(self.lock_key(replica)))
            .await;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use ragmesh_proto::v1::Document;

    #[test]
    fn writes_survive_the_queue_encoding() {
        let ingest = ShardWrite::Ingest(IngestRequest {
            collection: "c".into(),
            documents: vec![Document {
                source: "a.md".into(),
                text: "lava ☃".into(),
                metadata: [("k".to_string(), "v".to_string())].into(),
            }],
        });
        let delete = ShardWrite::Delete(DeleteRequest {
            collection: "c".into(),
            source: "a.md".into(),
        });
        for write in [ingest, delete] {
            assert_eq!(ShardWrite::decode(&write.encode()), Some(write));
        }
        assert_eq!(ShardWrite::decode("x00"), None);
        assert_eq!(ShardWrite::decode(""), None);
    }
}
