//! Settings of the calls between services (`[rpc]`): how clients dial (connect timeout,
//! keep-alive), the circuit breaker each backend gets in the gateway, whether idempotent calls
//! are retried on another instance, and how much concurrent work each gRPC service accepts
//! before it sheds load with RESOURCE_EXHAUSTED. Also the parser of backend URL lists
//! (`gateway.retrieval_url` may name several instances).

use serde::{Deserialize, Deserializer, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RpcSettings {
    /// How long opening a TCP/HTTP2 connection to a backend may take, milliseconds.
    pub connect_timeout_ms: u64,
    /// HTTP/2 PING interval on idle backend connections, milliseconds (finds dead peers).
    pub keepalive_interval_ms: u64,
    /// How long a PING may stay unanswered before the connection is dropped, milliseconds.
    pub keepalive_timeout_ms: u64,
    /// Retry Embed/Retrieve/Rerank (and the opening of Generate, before any token) once on
    /// another instance when the first one is unreachable or overloaded.
    pub retry_idempotent: bool,
    /// `Retry-After` (seconds) the gateway sends with a 429 when a backend shed the call.
    pub overload_retry_after_s: u64,
    pub breaker: BreakerSettings,
    pub max_concurrent: MaxConcurrentSettings,
}

impl Default for RpcSettings {
    fn default() -> Self {
        RpcSettings {
            connect_timeout_ms: 3_000,
            keepalive_interval_ms: 30_000,
            keepalive_timeout_ms: 10_000,
            retry_idempotent: true,
            overload_retry_after_s: 1,
            breaker: BreakerSettings::default(),
            max_concurrent: MaxConcurrentSettings::default(),
        }
    }
}

/// The circuit breaker of each backend (in the gateway).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BreakerSettings {
    /// Consecutive failures (unreachable, deadline exceeded) that open the breaker.
    pub failure_threshold: u32,
    /// How long an open breaker rejects calls before letting trial calls through, ms.
    pub open_ms: u64,
    /// Successful trial calls that close a half-open breaker.
    pub close_after_successes: u32,
    /// Most calls let through while half-open; others are rejected like when open.
    pub half_open_max_calls: u32,
}

impl Default for BreakerSettings {
    fn default() -> Self {
        BreakerSettings {
            failure_threshold: 5,
            open_ms: 30_000,
            close_after_successes: 2,
            half_open_max_calls: 3,
        }
    }
}

/// Calls each gRPC service runs at once; one more is answered RESOURCE_EXHAUSTED at once.
/// A streamed answer counts until its stream ends. Health and reflection are never limited.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MaxConcurrentSettings {
    pub retrieval: usize,
    pub rerank: usize,
    pub generation: usize,
}

impl Default for MaxConcurrentSettings {
    fn default() -> Self {
        MaxConcurrentSettings {
            retrieval: 64,
            rerank: 32,
            generation: 8,
        }
    }
}

impl RpcSettings {
    pub(crate) fn validate(&self) -> Result<(), String> {
        let b = &self.breaker;
        if b.failure_threshold == 0 || b.close_after_successes == 0 {
            return Err(
                "rpc.breaker.failure_threshold and close_after_successes must be positive".into(),
            );
        }
        if b.half_open_max_calls < b.close_after_successes {
            return Err(
                "rpc.breaker.half_open_max_calls must be at least close_after_successes".into(),
            );
        }
        let m = &self.max_concurrent;
        if m.retrieval == 0 || m.rerank == 0 || m.generation == 0 {
            return Err("rpc.max_concurrent.* must be positive".into());
        }
        if self.connect_timeout_ms == 0 {
            return Err("rpc.connect_timeout_ms must be positive".into());
        }
        Ok(())
    }
}

/// The instances a backend URL setting names: one URL, or several separated by commas
/// (`"http://a:50051, http://b:50051"`); blanks are ignored.
pub fn split_urls(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(str::to_string)
        .collect()
}

/// Reads a backend URL setting written as a string (one URL or a comma-separated list) or as
/// a TOML array of URLs; keeps it as one comma-separated string (see [`split_urls`]).
pub(crate) fn url_list<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(deserializer)? {
        OneOrMany::One(url) => url,
        OneOrMany::Many(urls) => urls.join(","),
    })
}
