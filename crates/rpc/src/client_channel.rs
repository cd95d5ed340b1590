//! How a client dials a backend: lazily (nothing is dialled until the first call, so a
//! gateway starts while its backends still load models), with a connect timeout, HTTP/2
//! keep-alive PINGs that find a dead peer on an idle connection, and TCP_NODELAY (without it
//! every small unary call paid ~40 ms of Nagle delay on loopback).

use crate::RpcError;
use ragmesh_config::RpcSettings;
use std::time::Duration;
use tonic::transport::{Channel, Endpoint};

/// Dialling options, from `[rpc]`.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    pub connect_timeout: Duration,
    pub keepalive_interval: Duration,
    pub keepalive_timeout: Duration,
}

impl ClientOptions {
    pub fn from_settings(rpc: &RpcSettings) -> ClientOptions {
        ClientOptions {
            connect_timeout: Duration::from_millis(rpc.connect_timeout_ms.max(1)),
            keepalive_interval: Duration::from_millis(rpc.keepalive_interval_ms.max(1)),
            keepalive_timeout: Duration::from_millis(rpc.keepalive_timeout_ms.max(1)),
        }
    }
}

/// A lazily connected channel to `url`; `service` names the backend in the error.
pub fn dial(
    service: &'static str,
    url: &str,
    options: &ClientOptions,
) -> Result<Channel, RpcError> {
    let endpoint = Endpoint::from_shared(url.to_string()).map_err(|e| RpcError::BadUrl {
        service,
        url: url.to_string(),
        reason: e.to_string(),
    })?;
    Ok(endpoint
        .connect_timeout(options.connect_timeout)
        .tcp_nodelay(true)
        .http2_keep_alive_interval(options.keepalive_interval)
        .keep_alive_timeout(options.keepalive_timeout)
        .connect_lazy())
}
