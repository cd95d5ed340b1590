//! Cross-site writes: a web page open in the user's browser can send requests to a gateway on
//! the user's machine — a "simple" POST (multipart, `text/plain`, no body) needs no CORS
//! preflight, and with DNS rebinding the page can even read answers under its own name. On a
//! laptop with no API keys that page could replace a collection or clear the cache. Three
//! checks, before any handler runs, close this:
//!
//! - **Host**: only names this gateway serves are answered: `localhost` and `*.localhost`, IP
//!   literals (a rebinding page always uses its own DNS name, never an IP), and
//!   `gateway.http.allowed_hosts` (`*`: any). Anything else is a 403 — also on reads, since
//!   rebinding lets the page read answers.
//! - **Origin** on state-changing methods (everything but GET, HEAD, OPTIONS): a browser
//!   always sends `Origin` on a cross-origin POST; it must be the gateway's own origin (same
//!   host and port as `Host`) or one of `gateway.http.allowed_origins`, else 403. Requests
//!   without `Origin` (the CLI, curl, services) are not cross-site and pass.
//! - **Declared content types**: routes that take bodies refuse any other type (415), so a
//!   page cannot send them as a simple request (see `require_content_type`); JSON routes do
//!   this in [`super::extract::ApiJson`].

use crate::api::extract::discard_in_background;
use crate::error::GatewayError;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, Method, header};
use ragmesh_config::HttpSettings;
use std::net::IpAddr;
use std::sync::Arc;

/// The names and origins this gateway answers to, from `[gateway.http]`.
#[derive(Debug, Clone)]
pub struct CrossSitePolicy {
    any_host: bool,
    hosts: Vec<String>,
    origins: Vec<String>,
}

impl CrossSitePolicy {
    pub fn new(settings: &HttpSettings) -> CrossSitePolicy {
        let lower = |v: &[String]| -> Vec<String> {
            v.iter()
                .map(|s| s.trim().trim_end_matches('.').to_ascii_lowercase())
                .collect()
        };
        let hosts = lower(&settings.allowed_hosts);
        CrossSitePolicy {
            any_host: hosts.iter().any(|h| h == "*"),
            hosts,
            origins: lower(&settings.allowed_origins),
        }
    }

    /// The request's verdict: `Ok` to serve it, or the 403 saying why not.
    pub fn check(
        &self,
        method: &Method,
        uri: &http::Uri,
        headers: &HeaderMap,
    ) -> Result<(), GatewayError> {
        // HTTP/1.1 carries the name in `Host`, HTTP/2 in the `:authority` (the URI).
        let authority = match headers.get(header::HOST) {
            Some(value) => Some(value.to_str().map_err(|_| {
                GatewayError::Forbidden("the Host header is not visible ASCII".into())
            })?),
            None => uri.authority().map(http::uri::Authority::as_str),
        };
        if let Some(authority) = authority {
            let host = host_name(authority);
            if !self.serves(&host) {
                return Err(GatewayError::Forbidden(format!(
                    "Host {:?} is not served here: this gateway answers localhost, IP addresses \
                     and the names in gateway.http.allowed_hosts (a defence against DNS \
                     rebinding)",
                    truncate(&host)
                )));
            }
        }
        if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
            return Ok(());
        }
        let Some(origin) = headers.get(header::ORIGIN) else {
            return Ok(());
        };
        let origin = origin.to_str().unwrap_or("").trim().to_ascii_lowercase();
        let own = authority.is_some_and(|a| {
            let a = a.to_ascii_lowercase();
            origin == format!("http://{a}") || origin == format!("https://{a}")
        });
        if own || self.origins.contains(&origin) {
            return Ok(());
        }
        Err(GatewayError::Forbidden(format!(
            "cross-site {method} from origin {:?} refused: only the gateway's own origin and \
             the origins in gateway.http.allowed_origins may send state-changing requests",
            truncate(&origin)
        )))
    }

    fn serves(&self, host: &str) -> bool {
        if self.any_host || host == "localhost" || host.ends_with(".localhost") {
            return true;
        }
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        bare.parse::<IpAddr>().is_ok() || self.hosts.iter().any(|h| h == host)
    }
}

/// The host part of an authority (`name:port`, `[v6]:port`), lowercase, without a trailing dot.
fn host_name(authority: &str) -> String {
    let authority = authority.trim();
    let host = if authority.starts_with('[') {
        match authority.find(']') {
            Some(end) => &authority[..=end],
            None => authority,
        }
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
            _ => authority,
        }
    };
    host.trim_end_matches('.').to_ascii_lowercase()
}

/// Names in messages are cut: a header can be 8 KiB long.
fn truncate(s: &str) -> String {
    const MAX: usize = 100;
    match s.char_indices().nth(MAX) {
        Some((at, _)) => format!("{}...", &s[..at]),
        None => s.to_string(),
    }
}

/// Middleware: the [`CrossSitePolicy`] verdict before any handler.
pub async fn guard(
    State(policy): State<Arc<CrossSitePolicy>>,
    request: Request,
    next: Next,
) -> Response {
    if let Err(e) = policy.check(request.method(), request.uri(), request.headers()) {
        tracing::warn!(error = %e, "cross-site request refused");
        discard_in_background(request.into_body());
        return e.into_response();
    }
    next.run(request).await
}

/// 415 unless the request's `Content-Type` is `expected` (parameters ignored). Routes whose
/// body is not JSON call this, so a browser cannot send them without a preflight.
pub fn require_content_type(
    headers: &HeaderMap,
    expected: &str,
    route: &str,
) -> Result<(), GatewayError> {
    let got = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        });
    if got.as_deref() == Some(expected) {
        return Ok(());
    }
    Err(GatewayError::UnsupportedMediaType(format!(
        "{route} takes Content-Type: {expected}, got {}",
        match got {
            Some(t) => format!("{:?}", truncate(&t)),
            None => "none".into(),
        }
    )))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn policy(hosts: &[&str], origins: &[&str]) -> CrossSitePolicy {
        CrossSitePolicy::new(&HttpSettings {
            allowed_hosts: hosts.iter().map(|s| s.to_string()).collect(),
            allowed_origins: origins.iter().map(|s| s.to_string()).collect(),
            ..HttpSettings::default()
        })
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        map
    }

    #[test]
    fn loopback_names_and_ip_literals_are_served_other_names_only_when_listed() {
        let p = policy(&["rag.example.com"], &[]);
        let uri = http::Uri::from_static("/api/collections");
        for host in [
            "localhost:8080",
            "LOCALHOST",
            "ui.localhost:3000",
            "127.0.0.1:8080",
            "10.0.0.7",
            "[::1]:8080",
            "rag.example.com:443",
            "rag.example.com.",
        ] {
            assert!(
                p.check(&Method::GET, &uri, &headers(&[("host", host)]))
                    .is_ok(),
                "{host}"
            );
        }
        for host in [
            "attacker.example",
            "localhost.attacker.example:8080",
            "rag.example.com.evil",
        ] {
            let err = p
                .check(&Method::GET, &uri, &headers(&[("host", host)]))
                .unwrap_err();
            assert_eq!(ragmesh_core::Classify::code(&err).http().as_u16(), 403);
            assert!(err.to_string().contains("is not served here"), "{err}");
        }
        assert!(
            policy(&["*"], &[])
                .check(&Method::GET, &uri, &headers(&[("host", "any.example")]))
                .is_ok()
        );
    }

    #[test]
    fn a_foreign_origin_may_read_nothing_new_and_write_nothing() {
        let p = policy(&[], &["https://ui.example.com"]);
        let uri = http::Uri::from_static("/api/cache/clear");
        let host = ("host", "localhost:8080");
        let ok = |method: Method, origin: &str| {
            p.check(&method, &uri, &headers(&[host, ("origin", origin)]))
        };
        assert!(ok(Method::POST, "http://localhost:8080").is_ok());
        assert!(ok(Method::POST, "https://ui.example.com").is_ok());
        assert!(ok(Method::GET, "https://evil.example").is_ok());
        for origin in ["https://evil.example", "null", "http://localhost:9999"] {
            for method in [Method::POST, Method::PUT, Method::DELETE] {
                let err = ok(method.clone(), origin).unwrap_err();
                assert_eq!(ragmesh_core::Classify::code(&err).http().as_u16(), 403);
                assert!(err.to_string().contains("cross-site"), "{err}");
            }
        }
        // No Origin: not a browser's cross-site request.
        assert!(p.check(&Method::POST, &uri, &headers(&[host])).is_ok());
    }

    #[test]
    fn a_body_of_another_type_is_415_naming_both_types() {
        let err = require_content_type(
            &headers(&[("content-type", "text/plain;charset=UTF-8")]),
            "application/octet-stream",
            "POST /api/restore",
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "POST /api/restore takes Content-Type: application/octet-stream, got \"text/plain\""
        );
        assert!(
            require_content_type(
                &headers(&[("content-type", "Application/Octet-Stream")]),
                "application/octet-stream",
                "x"
            )
            .is_ok()
        );
    }
}
