//! [`SemanticCache`]: the two tiers behind one lookup order — L1 exact → L1 semantic → L2 exact
//! → L2 semantic → miss — plus generations (invalidation), runtime configuration and stats.
//! Each tier's lookup is a `tracing` span (`cache.l1.exact`, `cache.l2.semantic`, …), so an
//! exported trace shows which tier answered and what each cost.
//!
//! Generations: every namespace carries its collection's generation. With L2, the generation
//! lives in Redis; a gateway trusts the value it read for `l2_generation_check_ms` at most and
//! is told of changes at once over pub/sub, so a gateway that misses a message still stops
//! serving old entries within that interval, and never reads another gateway's old entries
//! (they sit under the old generation's keys). A write while Redis is down bumps the local
//! generation and is replayed to Redis (`INCR` + publish) as soon as Redis answers again.

use crate::clock::Clock;
use crate::entry::{CacheHit, CachedEntry, MatchKind, Tier};
use crate::error::CacheError;
use crate::local::LocalTier;
use crate::namespace::{AnswerScope, Namespace, ScopeHashes};
use crate::redis_tier::{Invalidation, RedisTier};
use crate::stats::{CacheStats, Counters, L2Status, Latency, TierCounts, TierHits, TierSizes};
use crate::verify::QuerySignature;
use parking_lot::{Mutex, RwLock};
use ragmesh_config::CacheSettings;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tracing::Instrument;

/// The settings that can change at runtime (`GET/PUT /api/cache/config`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RuntimeConfig {
    pub enabled: bool,
    pub threshold: f32,
    pub verify: bool,
    pub ttl_secs: u64,
    pub l1_max_entries: usize,
    pub l2_max_entries: usize,
}

/// A partial update: absent fields keep their value.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuntimeConfigPatch {
    pub enabled: Option<bool>,
    pub threshold: Option<f32>,
    pub verify: Option<bool>,
    pub ttl_secs: Option<u64>,
    pub l1_max_entries: Option<usize>,
    pub l2_max_entries: Option<usize>,
}

impl RuntimeConfig {
    fn from_settings(s: &CacheSettings) -> RuntimeConfig {
        RuntimeConfig {
            enabled: s.enabled,
            threshold: s.threshold,
            verify: s.verify,
            ttl_secs: s.ttl_secs,
            l1_max_entries: s.l1_max_entries,
            l2_max_entries: s.l2_max_entries,
        }
    }

    /// `self` with `patch` applied, or the first rule it breaks.
    pub fn patched(&self, patch: &RuntimeConfigPatch) -> Result<RuntimeConfig, CacheError> {
        let next = RuntimeConfig {
            enabled: patch.enabled.unwrap_or(self.enabled),
            threshold: patch.threshold.unwrap_or(self.threshold),
            verify: patch.verify.unwrap_or(self.verify),
            ttl_secs: patch.ttl_secs.unwrap_or(self.ttl_secs),
            l1_max_entries: patch.l1_max_entries.unwrap_or(self.l1_max_entries),
            l2_max_entries: patch.l2_max_entries.unwrap_or(self.l2_max_entries),
        };
        let invalid = |m: String| Err(CacheError::InvalidConfig(m));
        if !(next.threshold > 0.0 && next.threshold <= 1.0) {
            return invalid(format!(
                "threshold must be in (0, 1], got {}",
                next.threshold
            ));
        }
        if next.ttl_secs == 0 {
            return invalid("ttl_secs must be greater than 0".into());
        }
        if next.l1_max_entries == 0 {
            return invalid("l1_max_entries must be at least 1".into());
        }
        if next.l2_max_entries == 0 {
            return invalid("l2_max_entries must be at least 1".into());
        }
        Ok(next)
    }

    fn ttl_ms(&self) -> u64 {
        self.ttl_secs.saturating_mul(1000)
    }
}

#[derive(Debug, Clone, Copy)]
struct Known {
    generation: u64,
    /// When Redis last confirmed it (0: never, or must be re-read).
    confirmed_ms: u64,
}

#[derive(Debug)]
struct Inner {
    config: RwLock<RuntimeConfig>,
    l1: LocalTier,
    l2: Option<Arc<RedisTier>>,
    counters: Counters,
    clock: Clock,
    check_ms: u64,
    epoch: RwLock<String>,
    /// Whether `epoch` came from Redis (and not from the local placeholder). A generation
    /// learnt from pub/sub says nothing about the epoch, so until this is set every namespace
    /// re-reads both: otherwise a gateway would key its first lookups under its own
    /// placeholder epoch and never see what the other gateways stored.
    epoch_confirmed: AtomicBool,
    generations: Mutex<HashMap<String, Known>>,
    /// Collections written while Redis was unreachable: their bump is replayed to Redis.
    pending: Mutex<HashSet<String>>,
    params: ScopeHashes,
}

/// The gateway's answer cache. Cloning is cheap (shared state).
#[derive(Debug, Clone)]
pub struct SemanticCache {
    inner: Arc<Inner>,
}

impl SemanticCache {
    /// Builds the cache from `[cache]`; with `l2_redis_url` set, starts connecting to Redis in
    /// the background (never fails because Redis is down). Must run inside a tokio runtime
    /// when L2 is configured.
    pub fn new(settings: &CacheSettings) -> Result<SemanticCache, CacheError> {
        Self::with_clock(settings, Clock::System)
    }

    pub fn with_clock(settings: &CacheSettings, clock: Clock) -> Result<SemanticCache, CacheError> {
        if let Some(problem) = settings.problem() {
            return Err(CacheError::InvalidConfig(problem));
        }
        let l2 = match &settings.l2_redis_url {
            Some(url) => Some(Arc::new(RedisTier::start(
                url,
                &settings.l2_key_prefix,
                Duration::from_millis(settings.l2_command_timeout_ms),
                clock.clone(),
            )?)),
            None => None,
        };
        let cache = SemanticCache {
            inner: Arc::new(Inner {
                config: RwLock::new(RuntimeConfig::from_settings(settings)),
                l1: LocalTier::new(clock.clone()),
                l2,
                counters: Counters::default(),
                clock,
                check_ms: settings.l2_generation_check_ms,
                epoch: RwLock::new(format!("local-{}", uuid::Uuid::new_v4().simple())),
                epoch_confirmed: AtomicBool::new(false),
                generations: Mutex::new(HashMap::new()),
                pending: Mutex::new(HashSet::new()),
                params: ScopeHashes::default(),
            }),
        };
        register_series(cache.inner.l2.is_some());
        if let Some(l2) = &cache.inner.l2 {
            let weak = Arc::downgrade(&cache.inner);
            let weak_again = weak.clone();
            l2.listen(
                move |message| {
                    if let Some(inner) = weak.upgrade() {
                        SemanticCache { inner }.apply(message);
                    }
                },
                move || {
                    if let Some(inner) = weak_again.upgrade() {
                        // Redis may have restarted empty (a new epoch): re-read everything.
                        inner.epoch_confirmed.store(false, Ordering::Release);
                        for known in inner.generations.lock().values_mut() {
                            known.confirmed_ms = 0;
                        }
                    }
                },
            );
        }
        Ok(cache)
    }

    pub fn config(&self) -> RuntimeConfig {
        self.inner.config.read().clone()
    }

    /// Applies `patch` (all or nothing) and shrinks L1 to a lower limit at once.
    pub fn set_config(&self, patch: &RuntimeConfigPatch) -> Result<RuntimeConfig, CacheError> {
        let next = self.inner.config.read().patched(patch)?;
        *self.inner.config.write() = next.clone();
        let removed = self.inner.l1.enforce_limit(next.l1_max_entries);
        self.count_l1_removed(removed);
        tracing::info!(?next, "cache configuration changed");
        Ok(next)
    }

    pub fn is_enabled(&self) -> bool {
        self.inner.config.read().enabled
    }

    fn count_l1_removed(&self, removed: crate::local::Removed) {
        let c = &self.inner.counters;
        c.add(
            &c.l1_evictions,
            "ragmesh_cache_evictions_total",
            "l1",
            removed.evicted,
        );
        c.add(
            &c.expirations,
            "ragmesh_cache_expirations_total",
            "l1",
            removed.expired,
        );
    }

    fn l2_failed(&self, error: &CacheError) {
        if !matches!(error, CacheError::L2Skipped) {
            let c = &self.inner.counters;
            c.add(&c.l2_errors, "ragmesh_cache_l2_errors_total", "l2", 1);
            tracing::debug!(%error, "cache L2 unavailable for this request");
        }
    }

    /// The namespace for `scope` now (reads the generation from Redis when the local copy is
    /// older than the check interval).
    pub async fn namespace(&self, scope: &AnswerScope) -> Namespace {
        let (epoch, generation) = self.current(&scope.collection).await;
        Namespace {
            collection: scope.collection.clone(),
            epoch,
            generation,
            params: self.inner.params.hash(scope),
        }
    }

    /// `collection`'s epoch and generation now, re-read from Redis when the epoch was never
    /// confirmed there or the generation is older than the check interval.
    async fn current(&self, collection: &str) -> (String, u64) {
        if let Some(l2) = &self.inner.l2 {
            let now = self.inner.clock.now_ms();
            let stale = !self.inner.epoch_confirmed.load(Ordering::Acquire)
                || self
                    .inner
                    .generations
                    .lock()
                    .get(collection)
                    .is_none_or(|k| now.saturating_sub(k.confirmed_ms) >= self.inner.check_ms);
            if stale {
                Box::pin(self.flush_pending(l2)).await;
                match Box::pin(l2.read_generation(collection)).await {
                    Ok((epoch, generation)) => self.confirm(collection, epoch, generation),
                    Err(e) => self.l2_failed(&e),
                }
            }
        }
        let generation = self
            .inner
            .generations
            .lock()
            .get(collection)
            .map(|k| k.generation)
            .unwrap_or(0);
        (self.inner.epoch.read().clone(), generation)
    }

    /// Records what Redis says and drops whatever it makes unreachable.
    fn confirm(&self, collection: &str, epoch: String, generation: u64) {
        self.set_epoch(epoch);
        self.inner.epoch_confirmed.store(true, Ordering::Release);
        let now = self.inner.clock.now_ms();
        let previous = self.inner.generations.lock().insert(
            collection.to_string(),
            Known {
                generation,
                confirmed_ms: now.max(1),
            },
        );
        if previous.is_none_or(|p| p.generation != generation) {
            self.drop_other_generations(collection, generation);
        }
    }

    fn set_epoch(&self, epoch: String) {
        if *self.inner.epoch.read() == epoch {
            return;
        }
        *self.inner.epoch.write() = epoch.clone();
        let dropped = self.inner.l1.retain(None, |ns| ns.epoch == epoch);
        self.count_invalidated(dropped);
        if let Some(l2) = &self.inner.l2 {
            l2.retain_mirrors(|ns| ns.split('|').nth(1) == Some(epoch.as_str()));
        }
    }

    fn drop_other_generations(&self, collection: &str, generation: u64) {
        let dropped = self
            .inner
            .l1
            .retain(Some(collection), |ns| ns.generation == generation);
        self.count_invalidated(dropped);
        if let Some(l2) = &self.inner.l2 {
            let prefix = format!("{collection}|");
            let keep = format!("|{generation}|");
            l2.retain_mirrors(|ns| !ns.starts_with(&prefix) || ns.contains(&keep));
        }
    }

    fn count_invalidated(&self, n: u64) {
        let c = &self.inner.counters;
        c.add(
            &c.invalidations,
            "ragmesh_cache_invalidated_entries_total",
            "l1",
            n,
        );
    }

    /// Applies an invalidation message from another gateway (or from this one).
    pub fn apply(&self, message: Invalidation) {
        match message {
            Invalidation::Generation {
                collection,
                generation,
            } => {
                let current = self
                    .inner
                    .generations
                    .lock()
                    .get(&collection)
                    .map(|k| k.generation);
                if current != Some(generation) {
                    self.inner.generations.lock().insert(
                        collection.clone(),
                        Known {
                            generation,
                            confirmed_ms: self.inner.clock.now_ms().max(1),
                        },
                    );
                    self.drop_other_generations(&collection, generation);
                }
            }
            Invalidation::Epoch(token) => {
                self.set_epoch(token);
                self.inner.epoch_confirmed.store(true, Ordering::Release);
            }
        }
    }

    async fn flush_pending(&self, l2: &RedisTier) {
        let pending: Vec<String> = self.inner.pending.lock().iter().cloned().collect();
        for collection in pending {
            match l2.bump_generation(&collection).await {
                Ok(generation) => {
                    self.inner.pending.lock().remove(&collection);
                    self.apply(Invalidation::Generation {
                        collection,
                        generation,
                    });
                }
                Err(e) => {
                    self.l2_failed(&e);
                    return;
                }
            }
        }
    }

    /// After any write to `collection`: no entry made before it is served again, here at once,
    /// on other gateways as soon as they hear of it (pub/sub) or re-read the generation.
    pub async fn bump_generation(&self, collection: &str) {
        let local_next = {
            let mut generations = self.inner.generations.lock();
            let known = generations.entry(collection.to_string()).or_insert(Known {
                generation: 0,
                confirmed_ms: 0,
            });
            known.generation += 1;
            known.confirmed_ms = 0;
            known.generation
        };
        self.drop_other_generations(collection, local_next);
        if let Some(l2) = &self.inner.l2 {
            match l2.bump_generation(collection).await {
                Ok(generation) => self.apply(Invalidation::Generation {
                    collection: collection.to_string(),
                    generation,
                }),
                Err(e) => {
                    self.l2_failed(&e);
                    tracing::warn!(collection, error = %e, "cache generation bump not yet in Redis; will retry");
                    self.inner.pending.lock().insert(collection.to_string());
                }
            }
        }
    }

    /// Clears one collection (a generation bump) or everything (a new epoch).
    pub async fn clear(&self, collection: Option<&str>) {
        if let Some(collection) = collection {
            self.bump_generation(collection).await;
            return;
        }
        let local = format!("local-{}", uuid::Uuid::new_v4().simple());
        self.set_epoch(local);
        if let Some(l2) = &self.inner.l2 {
            match l2.new_epoch().await {
                Ok(token) => {
                    self.set_epoch(token);
                    self.inner.epoch_confirmed.store(true, Ordering::Release);
                }
                Err(e) => self.l2_failed(&e),
            }
            for known in self.inner.generations.lock().values_mut() {
                known.confirmed_ms = 0;
            }
        }
    }

    /// L1 exact, then L2 exact (an L2 hit is copied into L1).
    pub async fn lookup_exact(&self, namespace: &Namespace, normalized: &str) -> Option<CacheHit> {
        if !self.is_enabled() {
            return None;
        }
        let started = Instant::now();
        let l1 = tracing::info_span!("cache.l1.exact")
            .in_scope(|| self.inner.l1.get_exact(namespace, normalized));
        if let Some(hit) = l1 {
            return Some(self.record_hit(hit, started));
        }
        let l2 = self.inner.l2.as_ref()?;
        // Boxed (here and for the other Redis calls on the hit path): a Redis call's future is
        // kilobytes, and inlined it would make every L1 hit's future that large to move.
        match Box::pin(
            l2.get_exact(namespace, normalized)
                .instrument(tracing::info_span!("cache.l2.exact")),
        )
        .await
        {
            Ok(Some(entry)) => {
                let entry = Arc::new(entry);
                self.promote(namespace, &entry);
                let hit = CacheHit {
                    tier: Tier::L2,
                    kind: MatchKind::Exact,
                    similarity: 1.0,
                    entry,
                };
                Some(self.record_hit(hit, started))
            }
            Ok(None) => None,
            Err(e) => {
                self.l2_failed(&e);
                None
            }
        }
    }

    /// L1 semantic, then L2 semantic. Counts a miss when neither matches.
    pub async fn lookup_semantic(
        &self,
        namespace: &Namespace,
        query: &str,
        vector: &[f32],
    ) -> Option<CacheHit> {
        if !self.is_enabled() {
            return None;
        }
        let started = Instant::now();
        let config = self.config();
        let signature = QuerySignature::of(query);
        let l1 = tracing::info_span!("cache.l1.semantic").in_scope(|| {
            self.inner.l1.get_semantic(
                namespace,
                &signature,
                vector,
                config.threshold,
                config.verify,
            )
        });
        if let Some(hit) = l1 {
            return Some(self.record_hit(hit, started));
        }
        if let Some(l2) = &self.inner.l2 {
            let found = l2
                .get_semantic(
                    namespace,
                    &signature,
                    vector,
                    config.threshold,
                    config.verify,
                    config.ttl_ms(),
                    config.l2_max_entries,
                )
                .instrument(tracing::info_span!("cache.l2.semantic"))
                .await;
            match found {
                Ok(Some((entry, similarity))) => {
                    let entry = Arc::new(entry);
                    self.promote(namespace, &entry);
                    let hit = CacheHit {
                        tier: Tier::L2,
                        kind: MatchKind::Semantic,
                        similarity,
                        entry,
                    };
                    return Some(self.record_hit(hit, started));
                }
                Ok(None) => {}
                Err(e) => self.l2_failed(&e),
            }
        }
        self.inner.counters.miss();
        None
    }

    /// Counts a miss that never reached the semantic lookup (e.g. no embedding available).
    pub fn record_miss(&self) {
        self.inner.counters.miss();
    }

    fn record_hit(&self, hit: CacheHit, started: Instant) -> CacheHit {
        self.inner
            .counters
            .hit(hit.tier, hit.kind, started.elapsed());
        hit
    }

    /// Copies an L2 entry into L1 for the rest of its lifetime.
    fn promote(&self, namespace: &Namespace, entry: &Arc<CachedEntry>) {
        let config = self.config();
        let age = self.inner.clock.now_ms().saturating_sub(entry.created_ms);
        let left = config.ttl_ms().saturating_sub(age);
        if left > 0 {
            let removed =
                self.inner
                    .l1
                    .insert(namespace, entry.clone(), left, config.l1_max_entries);
            self.count_l1_removed(removed);
        }
    }

    /// Stores a complete, successful answer in L1 and (awaited, so the next request on any
    /// gateway can see it) in L2. Only call this for answers that must be served again.
    ///
    /// `namespace` is the one the request was looked up in, before the answer was made. It is
    /// resolved again first: if the collection's generation moved meanwhile (a write while the
    /// answer was being generated) the answer may predate the write and is not stored at all;
    /// if only the epoch changed (Redis came back empty, or answered for the first time) the
    /// answer is stored under the epoch every gateway reads now.
    pub async fn store(
        &self,
        namespace: &Namespace,
        query: &str,
        normalized: &str,
        vector: Vec<f32>,
        payload: serde_json::Value,
    ) {
        if !self.is_enabled() {
            return;
        }
        let (epoch, generation) = self.current(&namespace.collection).await;
        if generation != namespace.generation {
            tracing::debug!(
                collection = %namespace.collection,
                from = namespace.generation,
                to = generation,
                "answer not cached: the collection changed while it was made"
            );
            return;
        }
        let namespace = &Namespace {
            epoch,
            ..namespace.clone()
        };
        let config = self.config();
        let entry = Arc::new(CachedEntry {
            query: query.to_string(),
            normalized: normalized.to_string(),
            vector,
            payload,
            created_ms: self.inner.clock.now_ms(),
            rendered: Default::default(),
        });
        let removed = self.inner.l1.insert(
            namespace,
            entry.clone(),
            config.ttl_ms(),
            config.l1_max_entries,
        );
        self.count_l1_removed(removed);
        let c = &self.inner.counters;
        c.stores.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("ragmesh_cache_stores_total").increment(1);
        metrics::gauge!("ragmesh_cache_entries", "tier" => "l1").set(self.inner.l1.len() as f64);
        let pending = self.inner.pending.lock().contains(&namespace.collection);
        if let (Some(l2), false) = (&self.inner.l2, pending) {
            match l2
                .store(namespace, &entry, config.ttl_ms(), config.l2_max_entries)
                .await
            {
                Ok(evicted) => c.add(
                    &c.l2_evictions,
                    "ragmesh_cache_evictions_total",
                    "l2",
                    evicted,
                ),
                Err(e) => self.l2_failed(&e),
            }
        }
    }

    pub fn stats(&self) -> CacheStats {
        let c = &self.inner.counters;
        let load = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
        let hits = TierHits {
            l1_exact: load(&c.l1_exact),
            l1_semantic: load(&c.l1_semantic),
            l2_exact: load(&c.l2_exact),
            l2_semantic: load(&c.l2_semantic),
        };
        let total_hits = hits.l1_exact + hits.l1_semantic + hits.l2_exact + hits.l2_semantic;
        let misses = load(&c.misses);
        let (p50, p99) = c.hit_percentiles_ms();
        let l2 = match &self.inner.l2 {
            None => L2Status {
                configured: false,
                state: "disabled".into(),
                connected: false,
                errors: 0,
            },
            Some(l2) => L2Status {
                configured: true,
                state: l2.breaker.state().as_str().into(),
                connected: l2.health().connected,
                errors: load(&c.l2_errors),
            },
        };
        metrics::gauge!("ragmesh_cache_l2_up").set(if l2.connected { 1.0 } else { 0.0 });
        CacheStats {
            enabled: self.is_enabled(),
            hits,
            misses,
            hit_rate: (total_hits + misses > 0)
                .then(|| total_hits as f64 / (total_hits + misses) as f64),
            stores: load(&c.stores),
            evictions: TierCounts {
                l1: load(&c.l1_evictions),
                l2: load(&c.l2_evictions),
            },
            expirations: load(&c.expirations),
            invalidations: load(&c.invalidations),
            sizes: TierSizes {
                l1_entries: self.inner.l1.len(),
                l2_mirrored_entries: self
                    .inner
                    .l2
                    .as_ref()
                    .map(|l2| l2.mirrored_entries())
                    .unwrap_or(0),
            },
            l2,
            hit_latency_ms: Latency { p50, p99 },
        }
    }
}

/// Creates the cache's counters and gauges at zero, so dashboards and alert rules (rates,
/// hit ratios) see them before the first hit or eviction. `ragmesh_cache_l2_up` exists only
/// when an L2 is configured: a laptop without Redis must not look like "L2 down".
fn register_series(l2_configured: bool) {
    for tier in ["l1", "l2"] {
        for kind in ["exact", "semantic"] {
            metrics::counter!("ragmesh_cache_hits_total", "tier" => tier, "kind" => kind)
                .increment(0);
        }
        metrics::counter!("ragmesh_cache_evictions_total", "tier" => tier).increment(0);
    }
    metrics::counter!("ragmesh_cache_misses_total").increment(0);
    metrics::counter!("ragmesh_cache_stores_total").increment(0);
    metrics::gauge!("ragmesh_cache_entries", "tier" => "l1").set(0.0);
    if l2_configured {
        metrics::gauge!("ragmesh_cache_l2_up").set(0.0);
    }
}
