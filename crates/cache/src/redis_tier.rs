//! L2: answers shared by every gateway through a plain Redis (7.x, no modules), with fred.
//!
//! Keys (all under the configured prefix `P`; `NS` is a [`Namespace::key`]):
//!
//! | key | type | holds |
//! |---|---|---|
//! | `P:epoch` | string | random token; replaced by "clear all", and new when Redis lost its data |
//! | `P:gen:COLLECTION` | integer | the collection's generation, `INCR`ed by every write |
//! | `P:e:NS:HASH` | string, TTL | one entry (JSON), found by the normalised query's hash |
//! | `P:s:NS` | stream, `MAXLEN`, TTL | (hash, query, vector, time) of every entry, in order |
//! | `P:k:NS` | list, TTL | entry hashes newest first; entries past `l2_max_entries` are deleted |
//! | `P:invalidate` | pub/sub channel | `gen COLLECTION N` and `epoch TOKEN` messages |
//!
//! Semantic lookups without a vector module: each gateway mirrors the stream of a namespace
//! into a local [`VectorIndex`], fetching only entries newer than the last one it saw (`XRANGE
//! (LAST +`), and scans it in process; a match costs one more `GET` for the entry itself. So
//! a lookup is two round trips at most, whatever the number of gateways or entries.
//!
//! Every command has a deadline (`l2_command_timeout_ms`, at most 50 ms), fred reconnects with
//! exponential back-off, and the [breaker](crate::breaker) skips L2 entirely while Redis keeps
//! failing.

use crate::clock::Clock;
use crate::entry::CachedEntry;
use crate::error::CacheError;
use crate::namespace::{Namespace, query_hash};
use crate::vector_index::VectorIndex;
use crate::verify::QuerySignature;
use fred::clients::SubscriberClient;
use fred::prelude::*;
use fred::types::streams::{XCapKind, XCapTrim};
use parking_lot::{Mutex, RwLock};
use ragmesh_core::breaker::CircuitBreaker;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// One record of a namespace's entry stream.
#[derive(Debug, Serialize, Deserialize)]
struct StreamRecord {
    /// Hash of the normalised query (the entry key's last part).
    h: String,
    /// The query as asked (for the near-miss check).
    q: String,
    v: Vec<f32>,
    /// Stored at, ms since the Unix epoch.
    t: u64,
}

#[derive(Debug)]
struct MirrorItem {
    hash: String,
    signature: QuerySignature,
    created_ms: u64,
}

/// This gateway's copy of one namespace's stream.
#[derive(Debug, Default)]
struct Mirror {
    /// Id of the last stream record read; None before the first read.
    last_id: Mutex<Option<String>>,
    index: RwLock<VectorIndex<MirrorItem>>,
}

/// A message on the invalidation channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invalidation {
    Generation { collection: String, generation: u64 },
    Epoch(String),
}

impl Invalidation {
    fn encode(&self) -> String {
        match self {
            Invalidation::Generation {
                collection,
                generation,
            } => format!("gen {collection} {generation}"),
            Invalidation::Epoch(token) => format!("epoch {token}"),
        }
    }

    pub fn decode(text: &str) -> Option<Invalidation> {
        let mut parts = text.split(' ');
        match (parts.next()?, parts.next()?, parts.next()) {
            ("gen", collection, Some(n)) => Some(Invalidation::Generation {
                collection: collection.to_string(),
                generation: n.parse().ok()?,
            }),
            ("epoch", token, None) => Some(Invalidation::Epoch(token.to_string())),
            _ => None,
        }
    }
}

/// What the tier reports about itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct L2Health {
    pub connected: bool,
}

pub struct RedisTier {
    client: Client,
    subscriber: SubscriberClient,
    prefix: String,
    timeout: Duration,
    pub(crate) breaker: CircuitBreaker,
    mirrors: RwLock<HashMap<String, Arc<Mirror>>>,
    clock: Clock,
}

impl std::fmt::Debug for RedisTier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisTier")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisTier {
    /// Builds the clients and starts connecting in the background: this returns at once, also
    /// while Redis is down (commands fail fast until it is up). Must run inside a runtime.
    pub fn start(
        url: &str,
        prefix: &str,
        timeout: Duration,
        clock: Clock,
    ) -> Result<RedisTier, CacheError> {
        let config = Config::from_url(url).map_err(|e| CacheError::RedisUrl {
            url: url.to_string(),
            reason: e.to_string(),
        })?;
        let mut builder = Builder::from_config(config);
        builder
            .with_config(|c| c.fail_fast = false)
            .with_performance_config(|p| p.default_command_timeout = timeout)
            .with_connection_config(|c| {
                c.connection_timeout = Duration::from_millis(500);
                c.internal_command_timeout = Duration::from_millis(500);
                c.max_command_attempts = 1;
                c.tcp = TcpConfig {
                    nodelay: Some(true),
                    ..TcpConfig::default()
                };
            })
            .set_policy(ReconnectPolicy::new_exponential(0, 50, 1_000, 2));
        let client = builder.build().map_err(CacheError::redis)?;
        let subscriber = builder
            .build_subscriber_client()
            .map_err(CacheError::redis)?;
        // The connection tasks run detached for the life of the process; their handles are
        // not needed (fred reconnects by itself).
        drop(client.connect());
        drop(subscriber.connect());
        drop(subscriber.manage_subscriptions());
        Ok(RedisTier {
            client,
            subscriber,
            prefix: prefix.to_string(),
            timeout,
            breaker: crate::breaker::redis_breaker(),
            mirrors: RwLock::new(HashMap::new()),
            clock,
        })
    }

    pub fn health(&self) -> L2Health {
        L2Health {
            connected: self.client.is_connected(),
        }
    }

    fn channel(&self) -> String {
        format!("{}:invalidate", self.prefix)
    }

    fn epoch_key(&self) -> String {
        format!("{}:epoch", self.prefix)
    }

    fn generation_key(&self, collection: &str) -> String {
        format!("{}:gen:{collection}", self.prefix)
    }

    fn entry_key(&self, namespace: &str, hash: &str) -> String {
        format!("{}:e:{namespace}:{hash}", self.prefix)
    }

    fn stream_key(&self, namespace: &str) -> String {
        format!("{}:s:{namespace}", self.prefix)
    }

    fn list_key(&self, namespace: &str) -> String {
        format!("{}:k:{namespace}", self.prefix)
    }

    /// Runs one command (or a short sequence) under the breaker and a deadline.
    async fn guarded<T>(
        &self,
        what: &'static str,
        call: impl Future<Output = Result<T, fred::error::Error>>,
    ) -> Result<T, CacheError> {
        let Ok(permit) = self.breaker.try_acquire() else {
            return Err(CacheError::L2Skipped);
        };
        // fred enforces the per-command deadline; this bounds a sequence of commands too.
        let limit = self.timeout * 4;
        match tokio::time::timeout(limit, call).await {
            Ok(Ok(value)) => {
                permit.success();
                Ok(value)
            }
            Ok(Err(e)) => {
                permit.failure();
                Err(CacheError::Redis {
                    what,
                    message: e.to_string(),
                })
            }
            Err(_) => {
                permit.failure();
                Err(CacheError::Redis {
                    what,
                    message: format!("no answer within {} ms", limit.as_millis()),
                })
            }
        }
    }

    /// Subscribes to the invalidation channel (retrying until Redis answers) and calls
    /// `on_message` for every message, and `on_reconnect` whenever the subscriber connection
    /// is re-established (messages may have been missed while it was down).
    pub fn listen(
        self: &Arc<Self>,
        on_message: impl Fn(Invalidation) + Send + Sync + 'static,
        on_reconnect: impl Fn() + Send + Sync + 'static,
    ) {
        let mut messages = self.subscriber.message_rx();
        let mut reconnects = self.subscriber.reconnect_rx();
        let tier = Arc::clone(self);
        tokio::spawn(async move {
            let channel = tier.channel();
            loop {
                let subscribed = tokio::time::timeout(
                    Duration::from_secs(1),
                    tier.subscriber.subscribe(channel.clone()),
                )
                .await;
                if matches!(subscribed, Ok(Ok(()))) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        });
        tokio::spawn(async move {
            while let Ok(message) = messages.recv().await {
                let text: Option<String> = message.value.convert().ok();
                if let Some(invalidation) = text.as_deref().and_then(Invalidation::decode) {
                    on_message(invalidation);
                }
            }
        });
        tokio::spawn(async move {
            while reconnects.recv().await.is_ok() {
                on_reconnect();
            }
        });
    }

    /// The cache epoch (created when missing) and `collection`'s generation.
    pub async fn read_generation(&self, collection: &str) -> Result<(String, u64), CacheError> {
        let epoch_key = self.epoch_key();
        let generation_key = self.generation_key(collection);
        self.guarded("read generation", async {
            let (epoch, generation): (Option<String>, Option<u64>) = self
                .client
                .mget(vec![epoch_key.clone(), generation_key])
                .await?;
            let epoch = match epoch {
                Some(epoch) => epoch,
                None => {
                    let fresh = uuid::Uuid::new_v4().simple().to_string();
                    let _: Option<String> = self
                        .client
                        .set(&epoch_key, fresh, None, Some(SetOptions::NX), false)
                        .await?;
                    self.client.get::<String, _>(&epoch_key).await?
                }
            };
            Ok((epoch, generation.unwrap_or(0)))
        })
        .await
    }

    /// `INCR`s `collection`'s generation and tells every gateway; returns the new generation.
    pub async fn bump_generation(&self, collection: &str) -> Result<u64, CacheError> {
        let key = self.generation_key(collection);
        let channel = self.channel();
        self.guarded("bump generation", async {
            let generation: u64 = self.client.incr(&key).await?;
            let message = Invalidation::Generation {
                collection: collection.to_string(),
                generation,
            };
            let _: i64 = self.client.publish(channel, message.encode()).await?;
            Ok(generation)
        })
        .await
    }

    /// Replaces the epoch (every namespace of every collection becomes unreachable) and tells
    /// every gateway; returns the new token.
    pub async fn new_epoch(&self) -> Result<String, CacheError> {
        let key = self.epoch_key();
        let channel = self.channel();
        let token = uuid::Uuid::new_v4().simple().to_string();
        self.guarded("clear all", async {
            let _: () = self
                .client
                .set(&key, token.clone(), None, None, false)
                .await?;
            let _: i64 = self
                .client
                .publish(channel, Invalidation::Epoch(token.clone()).encode())
                .await?;
            Ok(token.clone())
        })
        .await
    }

    pub async fn get_exact(
        &self,
        namespace: &Namespace,
        normalized: &str,
    ) -> Result<Option<CachedEntry>, CacheError> {
        let key = self.entry_key(&namespace.key(), &query_hash(normalized));
        let text: Option<String> = self.guarded("get", self.client.get(key)).await?;
        Ok(text.and_then(|t| serde_json::from_str(&t).ok()))
    }

    /// The best verified match in the namespace's mirror (synced first), with its cosine.
    // Every argument is a distinct lookup input (namespace, query, vector and the live
    // runtime settings); bundling them would only move the list into a one-use struct.
    #[allow(clippy::too_many_arguments)]
    pub async fn get_semantic(
        &self,
        namespace: &Namespace,
        query: &QuerySignature,
        vector: &[f32],
        threshold: f32,
        verify: bool,
        ttl_ms: u64,
        max_entries: usize,
    ) -> Result<Option<(CachedEntry, f32)>, CacheError> {
        let ns = namespace.key();
        let mirror = self.sync_mirror(&ns, ttl_ms, max_entries).await?;
        let now = self.clock.now_ms();
        let candidates: Vec<(String, f32)> = mirror
            .index
            .read()
            .best_matches(vector, threshold, crate::local::VERIFY_CANDIDATES)
            .into_iter()
            .filter(|(_, item, _)| item.created_ms.saturating_add(ttl_ms) > now)
            .filter(|(_, item, _)| !verify || item.signature.agrees_with(query))
            .map(|(_, item, score)| (item.hash.clone(), score))
            .collect();
        for (hash, score) in candidates {
            let text: Option<String> = self
                .guarded("get", self.client.get(self.entry_key(&ns, &hash)))
                .await?;
            match text.and_then(|t| serde_json::from_str::<CachedEntry>(&t).ok()) {
                Some(entry) => return Ok(Some((entry, score))),
                // Expired or evicted in Redis: forget it here too.
                None => {
                    mirror.index.write().remove(&hash);
                }
            }
        }
        Ok(None)
    }

    /// Reads the stream records this gateway has not seen yet into its mirror.
    /// The mirror keeps at most `max_entries` (the newest), like the stream itself.
    async fn sync_mirror(
        &self,
        ns: &str,
        ttl_ms: u64,
        max_entries: usize,
    ) -> Result<Arc<Mirror>, CacheError> {
        let mirror = {
            let existing = self.mirrors.read().get(ns).cloned();
            match existing {
                Some(m) => m,
                None => self
                    .mirrors
                    .write()
                    .entry(ns.to_string())
                    .or_default()
                    .clone(),
            }
        };
        let start = match mirror.last_id.lock().as_deref() {
            Some(id) => format!("({id}"),
            None => "-".to_string(),
        };
        let records: Vec<(String, HashMap<String, String>)> = self
            .guarded(
                "read stream",
                self.client.xrange(self.stream_key(ns), start, "+", None),
            )
            .await?;
        if let Some((id, _)) = records.last() {
            let now = self.clock.now_ms();
            let mut index = mirror.index.write();
            for (_, fields) in &records {
                let Some(record) = fields
                    .get("r")
                    .and_then(|r| serde_json::from_str::<StreamRecord>(r).ok())
                else {
                    continue;
                };
                if record.t.saturating_add(ttl_ms) <= now {
                    continue;
                }
                let item = MirrorItem {
                    hash: record.h.clone(),
                    signature: QuerySignature::of(&record.q),
                    created_ms: record.t,
                };
                index.insert(record.h, &record.v, item);
            }
            if index.len() > max_entries {
                let mut by_age: Vec<(u64, String)> = index
                    .iter()
                    .map(|(key, item)| (item.created_ms, key.to_string()))
                    .collect();
                by_age.sort();
                let excess = by_age.len() - max_entries;
                for (_, key) in by_age.into_iter().take(excess) {
                    index.remove(&key);
                }
            }
            *mirror.last_id.lock() = Some(id.clone());
        }
        Ok(mirror)
    }

    /// Stores `entry` for `ttl_ms`, appends it to the namespace's stream and deletes the
    /// namespace's entries beyond `max_entries`; returns how many were deleted.
    pub async fn store(
        &self,
        namespace: &Namespace,
        entry: &CachedEntry,
        ttl_ms: u64,
        max_entries: usize,
    ) -> Result<u64, CacheError> {
        let ns = namespace.key();
        let hash = query_hash(&entry.normalized);
        let body = serde_json::to_string(entry).map_err(|e| CacheError::Encode(e.to_string()))?;
        let record = serde_json::to_string(&StreamRecord {
            h: hash.clone(),
            q: entry.query.clone(),
            v: entry.vector.clone(),
            t: entry.created_ms,
        })
        .map_err(|e| CacheError::Encode(e.to_string()))?;
        let ttl_secs = (ttl_ms / 1000).max(1) as i64;
        let max = max_entries as i64;
        let entry_key = self.entry_key(&ns, &hash);
        let stream_key = self.stream_key(&ns);
        let list_key = self.list_key(&ns);
        self.guarded("store", async {
            let _: () = self
                .client
                .set(
                    &entry_key,
                    body,
                    Some(Expiration::EX(ttl_secs)),
                    None,
                    false,
                )
                .await?;
            let _: String = self
                .client
                .xadd(
                    &stream_key,
                    false,
                    (XCapKind::MaxLen, XCapTrim::Exact, max),
                    "*",
                    vec![("r", record)],
                )
                .await?;
            let _: i64 = self.client.expire(&stream_key, ttl_secs, None).await?;
            let _: i64 = self.client.lpush(&list_key, hash.clone()).await?;
            let _: i64 = self.client.expire(&list_key, ttl_secs, None).await?;
            let overflow: Vec<String> = self.client.lrange(&list_key, max, -1).await?;
            let overflow: Vec<String> = overflow.into_iter().filter(|h| *h != hash).collect();
            if overflow.is_empty() {
                return Ok(0);
            }
            let _: () = self.client.ltrim(&list_key, 0, max - 1).await?;
            let keys: Vec<String> = overflow.iter().map(|h| self.entry_key(&ns, h)).collect();
            let deleted: u64 = self.client.del(keys).await?;
            Ok(deleted)
        })
        .await
    }

    /// Forgets mirrors of namespaces `keep` rejects (old generations, old epochs).
    pub fn retain_mirrors(&self, keep: impl Fn(&str) -> bool) {
        self.mirrors.write().retain(|ns, _| keep(ns));
    }

    /// Entries mirrored locally (all namespaces).
    pub fn mirrored_entries(&self) -> usize {
        self.mirrors
            .read()
            .values()
            .map(|m| m.index.read().len())
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalidation_messages_round_trip() {
        for message in [
            Invalidation::Generation {
                collection: "docs.v2".into(),
                generation: 42,
            },
            Invalidation::Epoch("abc".into()),
        ] {
            assert_eq!(Invalidation::decode(&message.encode()), Some(message));
        }
        assert_eq!(Invalidation::decode("gen x notanumber"), None);
        assert_eq!(Invalidation::decode("hello"), None);
    }
}
