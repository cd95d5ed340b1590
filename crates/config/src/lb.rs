//! The `[lb]` section: the Pingora load balancer (`ragmesh serve lb`) that fronts several
//! gateways (HTTP, SSE) or several instances of a gRPC service (h2c). Upstreams come from a
//! static list, from a DNS name resolved to many addresses (a Kubernetes headless service),
//! or both; they are health-checked actively and ejected passively after failures.

use serde::{Deserialize, Serialize};

/// What the balancer speaks to its upstreams.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum LbProtocol {
    /// HTTP/1.1 upstreams (gateways); clients may use HTTP/1.1 or h2c.
    Http,
    /// gRPC over h2c upstreams (retrieval, rerank, generation).
    Grpc,
}

/// How the balancer picks an upstream for a request.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum LbSelection {
    RoundRobin,
    /// Fewest requests in flight through this balancer (ties in turn).
    LeastConnections,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LbSettings {
    /// Address clients connect to (HTTP/1.1 and h2c on the same port).
    pub listen: String,
    /// Admin HTTP address: `/metrics`, `/log-level`, `/upstreams`; empty = none (like the
    /// `metrics_listen` of the other services).
    pub metrics_listen: String,
    pub protocol: LbProtocol,
    /// Static upstreams: comma-separated `host:port` (a host name is resolved to its first
    /// address, at start and at each reload).
    pub upstreams: String,
    /// `name:port` resolved to every address it has, again every `dns_refresh_ms` (e.g. a
    /// Kubernetes headless service); empty = none. Added to `upstreams`.
    pub upstreams_dns: String,
    pub dns_refresh_ms: u64,
    /// Interval of the active health checks, milliseconds.
    pub health_interval_ms: u64,
    /// Deadline of one health check, milliseconds.
    pub health_timeout_ms: u64,
    /// Path of the HTTP health check (`GET`, healthy on 2xx). gRPC upstreams are checked
    /// with `grpc.health.v1.Health/Check` instead.
    pub health_path: String,
    /// Consecutive failed attempts (connect error, reset before a response) that eject an
    /// upstream.
    pub eject_after_failures: u32,
    /// How long an ejected upstream is skipped, milliseconds.
    pub eject_ms: u64,
    pub selection: LbSelection,
    /// Pingora worker threads.
    pub threads: usize,
    /// Deadline of a TCP connect to an upstream, milliseconds.
    pub connect_timeout_ms: u64,
    /// On SIGTERM, how long in-flight requests may take to finish, milliseconds.
    pub shutdown_grace_ms: u64,
}

impl Default for LbSettings {
    fn default() -> Self {
        LbSettings {
            listen: "127.0.0.1:8090".into(),
            metrics_listen: String::new(),
            protocol: LbProtocol::Http,
            upstreams: String::new(),
            upstreams_dns: String::new(),
            dns_refresh_ms: 5_000,
            health_interval_ms: 1_000,
            health_timeout_ms: 1_000,
            health_path: "/health/ready".into(),
            eject_after_failures: 1,
            eject_ms: 10_000,
            selection: LbSelection::RoundRobin,
            threads: 1,
            connect_timeout_ms: 1_000,
            shutdown_grace_ms: 10_000,
        }
    }
}

impl LbSettings {
    /// The static upstreams, trimmed, empty entries dropped.
    pub fn static_upstreams(&self) -> Vec<String> {
        self.upstreams
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    }

    /// The DNS upstream name (`name:port`), if any.
    pub fn dns_upstream(&self) -> Option<&str> {
        Some(self.upstreams_dns.trim()).filter(|s| !s.is_empty())
    }

    /// The first rule the values break, as a message naming the key.
    pub fn problem(&self) -> Option<String> {
        let has_port = |s: &str| {
            s.rsplit_once(':')
                .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok())
        };
        if let Some(bad) = self.static_upstreams().iter().find(|u| !has_port(u)) {
            return Some(format!("lb.upstreams: {bad:?} is not host:port"));
        }
        if let Some(dns) = self.dns_upstream()
            && !has_port(dns)
        {
            return Some(format!("lb.upstreams_dns: {dns:?} is not name:port"));
        }
        for (key, value) in [
            ("lb.dns_refresh_ms", self.dns_refresh_ms),
            ("lb.health_interval_ms", self.health_interval_ms),
            ("lb.health_timeout_ms", self.health_timeout_ms),
            ("lb.connect_timeout_ms", self.connect_timeout_ms),
        ] {
            if value == 0 {
                return Some(format!("{key} must be positive"));
            }
        }
        if self.eject_after_failures == 0 {
            return Some("lb.eject_after_failures must be at least 1".into());
        }
        if !(1..=64).contains(&self.threads) {
            return Some("lb.threads must be in 1..=64".into());
        }
        if !self.health_path.starts_with('/') {
            return Some("lb.health_path must start with /".into());
        }
        None
    }
}
