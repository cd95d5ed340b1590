//! The upstream set and the choice of an upstream for each attempt.
//!
//! Each [`Upstream`] carries what the choice needs: its last active health check result, a
//! passive ejection deadline (set after `eject_after_failures` consecutive failed attempts,
//! lifted by time alone), and the number of requests in flight through it (for
//! least-connections). The set is replaced as a whole on reload or DNS refresh; an upstream
//! that stays keeps its state, and requests in flight on a removed one keep their `Arc` and
//! finish normally.
//!
//! When no upstream is both healthy and not ejected, the choice falls back to any upstream
//! not yet tried for this request: trying a doubtful upstream beats refusing outright.

use crate::metrics;
use parking_lot::RwLock;
use ragmesh_config::{LbSelection, LbSettings};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// One upstream address.
#[derive(Debug)]
pub struct Upstream {
    pub addr: SocketAddr,
    /// Its `upstream` label: the configured `host:port` of a static entry, `ip:port` of a DNS one.
    pub label: String,
    healthy: AtomicBool,
    in_flight: AtomicUsize,
    consecutive_failures: AtomicU32,
    /// Milliseconds since the pool's epoch until which it is skipped; 0 = not ejected.
    ejected_until_ms: AtomicU64,
}

impl Upstream {
    fn new(label: String, addr: SocketAddr) -> Upstream {
        metrics::register(&label);
        Upstream {
            addr,
            label,
            healthy: AtomicBool::new(true),
            in_flight: AtomicUsize::new(0),
            consecutive_failures: AtomicU32::new(0),
            ejected_until_ms: AtomicU64::new(0),
        }
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }

    pub fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::Relaxed)
    }
}

/// The state of one upstream as `GET /upstreams` shows it.
#[derive(Debug, Clone, serde::Serialize, PartialEq, Eq)]
pub struct UpstreamState {
    pub upstream: String,
    pub addr: String,
    pub healthy: bool,
    pub ejected: bool,
    pub in_flight: usize,
}

/// Counts one request in flight on an upstream until dropped.
#[derive(Debug)]
pub struct InFlight {
    pub upstream: Arc<Upstream>,
}

impl InFlight {
    fn new(upstream: Arc<Upstream>) -> InFlight {
        upstream.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight { upstream }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.upstream.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The current upstreams and the selection policy.
#[derive(Debug)]
pub struct UpstreamPool {
    members: RwLock<Arc<Vec<Arc<Upstream>>>>,
    next: AtomicUsize,
    selection: LbSelection,
    eject_after_failures: u32,
    eject: Duration,
    epoch: Instant,
}

impl UpstreamPool {
    pub fn new(settings: &LbSettings) -> UpstreamPool {
        UpstreamPool {
            members: RwLock::new(Arc::new(Vec::new())),
            next: AtomicUsize::new(0),
            selection: settings.selection,
            eject_after_failures: settings.eject_after_failures,
            eject: Duration::from_millis(settings.eject_ms),
            epoch: Instant::now(),
        }
    }

    /// The current members.
    pub fn members(&self) -> Arc<Vec<Arc<Upstream>>> {
        self.members.read().clone()
    }

    /// Replaces the set by `resolved` (label, address) pairs, keeping the state of members
    /// that stay. Returns (added, removed) labels.
    pub fn replace(&self, resolved: &[(String, SocketAddr)]) -> (Vec<String>, Vec<String>) {
        let mut members = self.members.write();
        let old = members.clone();
        let mut next = Vec::with_capacity(resolved.len());
        let mut added = Vec::new();
        for (label, addr) in resolved {
            if next
                .iter()
                .any(|u: &Arc<Upstream>| u.addr == *addr && u.label == *label)
            {
                continue;
            }
            match old.iter().find(|u| u.addr == *addr && u.label == *label) {
                Some(kept) => next.push(kept.clone()),
                None => {
                    added.push(label.clone());
                    next.push(Arc::new(Upstream::new(label.clone(), *addr)));
                }
            }
        }
        let removed: Vec<String> = old
            .iter()
            .filter(|u| !next.iter().any(|n| Arc::ptr_eq(n, u)))
            .map(|u| u.label.clone())
            .collect();
        *members = Arc::new(next);
        drop(members);
        for label in &removed {
            metrics::healthy(label, f64::NAN);
        }
        self.publish();
        (added, removed)
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn is_ejected(&self, upstream: &Upstream, now_ms: u64) -> bool {
        upstream.ejected_until_ms.load(Ordering::Relaxed) > now_ms
    }

    /// Healthy and not ejected.
    pub fn is_available(&self, upstream: &Upstream) -> bool {
        upstream.is_healthy() && !self.is_ejected(upstream, self.now_ms())
    }

    /// An upstream for the next attempt, avoiding the addresses in `tried`, counted in flight
    /// until the returned guard is dropped.
    pub fn select(&self, tried: &[SocketAddr]) -> Option<InFlight> {
        let members = self.members();
        let untried: Vec<&Arc<Upstream>> = members
            .iter()
            .filter(|u| !tried.contains(&u.addr))
            .collect();
        let available: Vec<&Arc<Upstream>> = untried
            .iter()
            .copied()
            .filter(|u| self.is_available(u))
            .collect();
        let candidates = if available.is_empty() {
            untried
        } else {
            available
        };
        if candidates.is_empty() {
            return None;
        }
        let turn = self.next.fetch_add(1, Ordering::Relaxed);
        let start = turn % candidates.len();
        let rotated = candidates.iter().cycle().skip(start).take(candidates.len());
        let chosen = match self.selection {
            LbSelection::RoundRobin => candidates[start],
            LbSelection::LeastConnections => rotated.min_by_key(|u| u.in_flight()).copied()?,
        };
        Some(InFlight::new(chosen.clone()))
    }

    /// An attempt on `upstream` got a response: its failure streak ends.
    pub fn record_success(&self, upstream: &Upstream) {
        upstream.consecutive_failures.store(0, Ordering::Relaxed);
    }

    /// An attempt on `upstream` failed before any response; ejects it after
    /// `eject_after_failures` in a row. Returns true when this failure ejected it.
    pub fn record_failure(&self, upstream: &Upstream) -> bool {
        let failures = upstream
            .consecutive_failures
            .fetch_add(1, Ordering::Relaxed)
            + 1;
        let now = self.now_ms();
        if failures < self.eject_after_failures || self.is_ejected(upstream, now) {
            return false;
        }
        let until = now + u64::try_from(self.eject.as_millis()).unwrap_or(u64::MAX / 2);
        upstream.ejected_until_ms.store(until, Ordering::Relaxed);
        upstream.consecutive_failures.store(0, Ordering::Relaxed);
        metrics::ejection(&upstream.label);
        tracing::warn!(upstream = %upstream.label, eject_ms = self.eject.as_millis() as u64, "upstream ejected after failures");
        self.publish_one(upstream);
        true
    }

    /// Records an active health check result.
    pub fn set_healthy(&self, upstream: &Upstream, healthy: bool) {
        let was = upstream.healthy.swap(healthy, Ordering::Relaxed);
        if was != healthy {
            if healthy {
                tracing::info!(upstream = %upstream.label, "upstream passed its health check");
            } else {
                tracing::warn!(upstream = %upstream.label, "upstream failed its health check");
            }
        }
        self.publish_one(upstream);
    }

    fn publish_one(&self, upstream: &Upstream) {
        let value = if self.is_available(upstream) {
            1.0
        } else {
            0.0
        };
        metrics::healthy(&upstream.label, value);
    }

    /// Refreshes `ragmesh_lb_upstream_healthy` of every member (an ejection that ran out is
    /// seen here) and the member count.
    pub fn publish(&self) {
        let members = self.members();
        for upstream in members.iter() {
            self.publish_one(upstream);
        }
        ::metrics::gauge!(metrics::UPSTREAMS).set(members.len() as f64);
    }

    /// Every member's state.
    pub fn states(&self) -> Vec<UpstreamState> {
        let now = self.now_ms();
        self.members()
            .iter()
            .map(|u| UpstreamState {
                upstream: u.label.clone(),
                addr: u.addr.to_string(),
                healthy: u.is_healthy(),
                ejected: self.is_ejected(u, now),
                in_flight: u.in_flight(),
            })
            .collect()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn pool(selection: LbSelection, n: u16) -> UpstreamPool {
        let settings = LbSettings {
            selection,
            eject_after_failures: 2,
            eject_ms: 60_000,
            ..LbSettings::default()
        };
        let pool = UpstreamPool::new(&settings);
        let members: Vec<(String, SocketAddr)> = (1..=n)
            .map(|p| {
                let addr: SocketAddr = format!("127.0.0.1:{p}").parse().unwrap();
                (addr.to_string(), addr)
            })
            .collect();
        pool.replace(&members);
        pool
    }

    #[test]
    fn round_robin_takes_turns_and_skips_what_was_tried() {
        let pool = pool(LbSelection::RoundRobin, 3);
        let ports: Vec<u16> = (0..6)
            .map(|_| pool.select(&[]).unwrap().upstream.addr.port())
            .collect();
        assert_eq!(ports, [1, 2, 3, 1, 2, 3]);
        let tried: SocketAddr = "127.0.0.1:2".parse().unwrap();
        for _ in 0..4 {
            assert_ne!(pool.select(&[tried]).unwrap().upstream.addr, tried);
        }
    }

    #[test]
    fn least_connections_prefers_the_idle_upstream() {
        let pool = pool(LbSelection::LeastConnections, 2);
        let busy = pool.select(&[]).unwrap();
        for _ in 0..5 {
            let next = pool.select(&[]).unwrap();
            assert_ne!(next.upstream.addr, busy.upstream.addr);
        }
    }

    #[test]
    fn failures_eject_and_a_reload_keeps_state() {
        let pool = pool(LbSelection::RoundRobin, 2);
        let first = pool.members()[0].clone();
        assert!(!pool.record_failure(&first));
        assert!(
            pool.record_failure(&first),
            "second failure in a row ejects"
        );
        for _ in 0..4 {
            assert_ne!(pool.select(&[]).unwrap().upstream.addr, first.addr);
        }
        let states = pool.states();
        assert!(states[0].ejected && !states[1].ejected);
        // Every upstream out: the choice falls back to any untried one.
        pool.set_healthy(&pool.members()[1], false);
        assert!(pool.select(&[]).is_some());
        let (added, removed) = pool.replace(&[(first.label.clone(), first.addr)]);
        assert!(added.is_empty());
        assert_eq!(removed, ["127.0.0.1:2"]);
        assert!(Arc::ptr_eq(&pool.members()[0], &first));
        assert!(pool.states()[0].ejected);
    }
}
