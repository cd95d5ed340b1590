//! Active health checks, every `health_interval_ms`, of every upstream at once:
//!
//! - HTTP upstreams: `GET health_path` over a fresh HTTP/1.1 connection, healthy on 2xx
//!   (the gateway's `/health/ready` says 503 until its backends answer);
//! - gRPC upstreams: `grpc.health.v1.Health/Check` for the whole server (`service: ""`),
//!   healthy on SERVING.
//!
//! One failed check marks an upstream unhealthy and one passed check brings it back, so a
//! recovered upstream rejoins within one interval (plus what is left of an ejection).

use crate::upstreams::UpstreamPool;
use ragmesh_config::{LbProtocol, LbSettings};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

/// How one upstream is probed.
#[derive(Debug, Clone)]
pub struct HealthCheck {
    protocol: LbProtocol,
    path: String,
    timeout: Duration,
    connect_timeout: Duration,
}

impl HealthCheck {
    pub fn new(settings: &LbSettings) -> HealthCheck {
        HealthCheck {
            protocol: settings.protocol,
            path: settings.health_path.clone(),
            timeout: Duration::from_millis(settings.health_timeout_ms),
            connect_timeout: Duration::from_millis(settings.connect_timeout_ms),
        }
    }

    /// True when `addr` answers healthy within the deadline.
    pub async fn probe(&self, addr: SocketAddr) -> bool {
        let check = async {
            match self.protocol {
                LbProtocol::Http => self.http(addr).await,
                LbProtocol::Grpc => self.grpc(addr).await,
            }
        };
        tokio::time::timeout(self.timeout, check)
            .await
            .unwrap_or(false)
    }

    async fn http(&self, addr: SocketAddr) -> bool {
        let Ok(Ok(mut stream)) =
            tokio::time::timeout(self.connect_timeout, tokio::net::TcpStream::connect(addr)).await
        else {
            return false;
        };
        let request = format!(
            "GET {} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: ragmesh-lb\r\nConnection: close\r\n\r\n",
            self.path
        );
        if stream.write_all(request.as_bytes()).await.is_err() {
            return false;
        }
        // Only the status line matters: "HTTP/1.1 200 OK".
        let mut head = [0u8; 64];
        let mut read = 0;
        while read < 12 {
            match stream.read(&mut head[read..]).await {
                Ok(0) | Err(_) => return false,
                Ok(n) => read += n,
            }
        }
        let line = String::from_utf8_lossy(&head[..read]);
        line.split_whitespace()
            .nth(1)
            .and_then(|code| code.parse::<u16>().ok())
            .is_some_and(|code| (200..300).contains(&code))
    }

    async fn grpc(&self, addr: SocketAddr) -> bool {
        use tonic_health::pb::health_check_response::ServingStatus;
        use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
        let Ok(endpoint) = tonic::transport::Endpoint::from_shared(format!("http://{addr}")) else {
            return false;
        };
        let Ok(channel) = endpoint
            .connect_timeout(self.connect_timeout)
            .connect()
            .await
        else {
            return false;
        };
        let request = HealthCheckRequest {
            service: String::new(),
        };
        match HealthClient::new(channel).check(request).await {
            Ok(response) => response.into_inner().status == ServingStatus::Serving as i32,
            Err(_) => false,
        }
    }
}

/// Probes every member each interval until `shutdown`.
pub async fn run(
    pool: Arc<UpstreamPool>,
    check: HealthCheck,
    interval: Duration,
    shutdown: CancellationToken,
) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let members = pool.members();
        let probes = members.iter().map(|u| {
            let check = check.clone();
            async move { (u.clone(), check.probe(u.addr).await) }
        });
        for (upstream, healthy) in futures::future::join_all(probes).await {
            pool.set_healthy(&upstream, healthy);
        }
        pool.publish();
    }
}
