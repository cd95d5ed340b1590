//! The `[gateway.http]` section: how the gateway's HTTP server defends itself against hostile
//! clients. Two kinds of defence live here because they are both about the connection, not a
//! route:
//!
//! - cross-site writes: the `Host` names served (a DNS-rebinding page reaches a loopback
//!   gateway under its own name, so only loopback names, IP literals and the names listed
//!   here are answered) and the origins allowed to send state-changing requests (besides the
//!   gateway's own);
//! - slow clients: how long headers (and an idle keep-alive connection) and a body may take,
//!   and how many connections may be open at once.

use serde::{Deserialize, Deserializer, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct HttpSettings {
    /// Host names (no port) served besides `localhost`, `*.localhost` and IP literals, which
    /// always are; `*` serves any name (only behind a proxy that checks it). A string with
    /// commas or a TOML array.
    #[serde(deserialize_with = "name_list")]
    pub allowed_hosts: Vec<String>,
    /// Origins (`scheme://host[:port]`) whose pages may send state-changing requests (POST,
    /// PUT, PATCH, DELETE), besides the gateway's own origin. A request without `Origin`
    /// (curl, the CLI, other services) is not a browser's cross-site request and passes.
    #[serde(deserialize_with = "name_list")]
    pub allowed_origins: Vec<String>,
    /// Time a client has to send the request line and headers, milliseconds; also how long
    /// an idle keep-alive connection stays open (HTTP/1; for HTTP/2, the ping interval and
    /// timeout).
    pub header_read_timeout_ms: u64,
    /// Longest pause between two parts of a request body, milliseconds: a stalled upload is
    /// cut (408) and its memory released.
    pub body_read_timeout_ms: u64,
    /// Average rate a request body must keep after its first `body_read_timeout_ms`, bytes per
    /// second (0: no minimum); a trickle that never quite stalls is cut too.
    pub body_min_bytes_per_sec: u64,
    /// Connections open at once; more wait in the kernel's accept queue.
    pub max_connections: usize,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            allowed_hosts: Vec::new(),
            allowed_origins: Vec::new(),
            header_read_timeout_ms: 10_000,
            body_read_timeout_ms: 30_000,
            body_min_bytes_per_sec: 1024,
            max_connections: 1024,
        }
    }
}

impl HttpSettings {
    /// The first rule the values break, as a message naming the key.
    pub fn problem(&self) -> Option<String> {
        for (key, value) in [
            ("header_read_timeout_ms", self.header_read_timeout_ms),
            ("body_read_timeout_ms", self.body_read_timeout_ms),
        ] {
            if value == 0 {
                return Some(format!("gateway.http.{key} must be positive"));
            }
        }
        if self.max_connections == 0 {
            return Some("gateway.http.max_connections must be at least 1".into());
        }
        if let Some(origin) = self
            .allowed_origins
            .iter()
            .find(|o| !(o.starts_with("http://") || o.starts_with("https://")) || o.ends_with('/'))
        {
            return Some(format!(
                "gateway.http.allowed_origins: {origin:?} is not an origin: write \
                 scheme://host[:port] (e.g. https://ui.example.com), no path"
            ));
        }
        None
    }
}

/// A list written as a string (comma-separated, as environment variables must) or a TOML
/// array; entries trimmed, empty ones dropped.
fn name_list<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    let items = match OneOrMany::deserialize(deserializer)? {
        OneOrMany::One(list) => list.split(',').map(str::to_string).collect(),
        OneOrMany::Many(items) => items,
    };
    Ok(items
        .into_iter()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect())
}
