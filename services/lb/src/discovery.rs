//! Where the upstream addresses come from: the static `lb.upstreams` list (resolved at start
//! and at each reload) and the optional `lb.upstreams_dns` name, resolved to all of its
//! addresses again every `dns_refresh_ms` — how a Kubernetes headless service lists its pods.
//!
//! A failed lookup keeps the members it would have produced (a DNS blip must not empty the
//! pool); an answer with fewer addresses removes the missing ones.

use crate::upstreams::UpstreamPool;
use parking_lot::Mutex;
use ragmesh_config::LbSettings;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// What to resolve: the upstream part of the settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamSpec {
    pub statics: Vec<String>,
    pub dns: Option<String>,
}

impl UpstreamSpec {
    pub fn from_settings(settings: &LbSettings) -> UpstreamSpec {
        UpstreamSpec {
            statics: settings.static_upstreams(),
            dns: settings.dns_upstream().map(str::to_string),
        }
    }
}

/// The spec in force and the resolver that applies it to the pool.
#[derive(Debug)]
pub struct Discovery {
    pool: Arc<UpstreamPool>,
    spec: Mutex<UpstreamSpec>,
    /// Bumped by every reload, so a refresh that resolved an older spec does not apply it.
    generation: AtomicU64,
    refresh: Duration,
}

impl Discovery {
    pub fn new(pool: Arc<UpstreamPool>, settings: &LbSettings) -> Discovery {
        Discovery {
            pool,
            spec: Mutex::new(UpstreamSpec::from_settings(settings)),
            generation: AtomicU64::new(0),
            refresh: Duration::from_millis(settings.dns_refresh_ms),
        }
    }

    /// The spec in force.
    pub fn spec(&self) -> UpstreamSpec {
        self.spec.lock().clone()
    }

    /// Installs `spec` and applies it at once. Returns the labels now in the pool.
    pub async fn reload(&self, spec: UpstreamSpec) -> Vec<String> {
        self.generation.fetch_add(1, Ordering::SeqCst);
        *self.spec.lock() = spec;
        self.refresh_once().await;
        self.pool
            .members()
            .iter()
            .map(|u| u.label.clone())
            .collect()
    }

    /// Resolves the spec in force and replaces the pool's members.
    pub async fn refresh_once(&self) {
        let generation = self.generation.load(Ordering::SeqCst);
        let spec = self.spec.lock().clone();
        let current = self.pool.members();
        let mut resolved: Vec<(String, SocketAddr)> = Vec::new();
        for entry in &spec.statics {
            match resolve(entry).await {
                Some(addr) => resolved.push((entry.clone(), addr)),
                None => {
                    // keep what this entry resolved to before, if anything
                    resolved.extend(
                        current
                            .iter()
                            .filter(|u| u.label == *entry)
                            .map(|u| (u.label.clone(), u.addr)),
                    );
                }
            }
        }
        if let Some(name) = &spec.dns {
            match resolve_all(name).await {
                Some(addrs) => {
                    resolved.extend(addrs.into_iter().map(|a| (a.to_string(), a)));
                }
                None => resolved.extend(
                    current
                        .iter()
                        .filter(|u| !spec.statics.contains(&u.label))
                        .map(|u| (u.label.clone(), u.addr)),
                ),
            }
        }
        if self.generation.load(Ordering::SeqCst) != generation {
            return; // a reload came in meanwhile and applied a newer spec
        }
        let (added, removed) = self.pool.replace(&resolved);
        if !added.is_empty() || !removed.is_empty() {
            tracing::info!(
                ?added,
                ?removed,
                upstreams = resolved.len(),
                "upstream set changed"
            );
        }
    }

    /// Re-resolves the DNS name every `dns_refresh_ms` until `shutdown`.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(self.refresh);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            if self.spec.lock().dns.is_some() {
                self.refresh_once().await;
            }
        }
    }
}

/// The first address of `host:port` (an IP literal needs no lookup).
async fn resolve(entry: &str) -> Option<SocketAddr> {
    resolve_all(entry).await?.into_iter().next()
}

/// Every address of `name:port`, IPv4 first, without duplicates; None when the lookup fails
/// or finds nothing.
async fn resolve_all(name: &str) -> Option<Vec<SocketAddr>> {
    if let Ok(addr) = name.parse::<SocketAddr>() {
        return Some(vec![addr]);
    }
    match tokio::net::lookup_host(name).await {
        Ok(found) => {
            let mut addrs: Vec<SocketAddr> = Vec::new();
            for addr in found {
                if !addrs.contains(&addr) {
                    addrs.push(addr);
                }
            }
            addrs.sort_by_key(|a| (a.is_ipv6(), *a));
            (!addrs.is_empty()).then_some(addrs)
        }
        Err(e) => {
            tracing::warn!(name, error = %e, "cannot resolve upstream; keeping its last addresses");
            None
        }
    }
}
