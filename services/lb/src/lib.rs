//! The ragmesh load balancer (`ragmesh serve lb`): a Pingora proxy in front of several
//! gateways (HTTP/1.1 and h2c clients, long SSE streams passed through unbuffered) or several
//! instances of a gRPC service (h2c to the upstreams).
//!
//! How the pieces fit:
//! - [`upstreams`] holds the upstream set and picks one per attempt (round robin or least
//!   connections), skipping unhealthy and ejected upstreams;
//! - [`discovery`] fills the set from `lb.upstreams` and `lb.upstreams_dns` (re-resolved every
//!   `dns_refresh_ms`) and applies reloads;
//! - [`health`] probes every upstream each `health_interval_ms`;
//! - [`proxy`] is the Pingora `ProxyHttp`: one retry on another upstream before any response
//!   byte, passive ejection, metrics, a span and `traceparent` per request;
//! - [`server`] runs Pingora on its own OS thread (it cannot live inside a tokio runtime);
//! - [`admin`] serves `/metrics`, `/log-level` and `/upstreams` on `lb.metrics_listen`.
//!
//! [`spawn`] starts all of it; the background tasks (health, DNS, admin) run on the caller's
//! tokio runtime, the proxy on Pingora's own.

pub mod admin;
pub mod discovery;
mod error;
pub mod health;
pub mod metrics;
pub mod proxy;
pub mod server;
pub mod upstreams;

pub use error::LbError;
pub use upstreams::UpstreamState;

use discovery::{Discovery, UpstreamSpec};
use ragmesh_config::{LbSettings, Settings};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use upstreams::UpstreamPool;

/// A running balancer.
pub struct LbHandle {
    /// Where clients connect.
    pub addr: SocketAddr,
    /// The admin listener (`/metrics`, `/upstreams`), when `lb.metrics_listen` is set.
    pub admin_addr: Option<SocketAddr>,
    pool: Arc<UpstreamPool>,
    discovery: Arc<Discovery>,
    active: Arc<AtomicUsize>,
    shutdown: CancellationToken,
    grace: Duration,
    thread: std::thread::JoinHandle<()>,
}

/// Starts the balancer of `settings.lb` and returns once it accepts connections. Cancelling
/// `shutdown` stops accepting; [`LbHandle::stopped`] then waits for the requests in flight
/// (at most `lb.shutdown_grace_ms`). Call inside a tokio runtime.
pub async fn spawn(settings: Settings, shutdown: CancellationToken) -> Result<LbHandle, LbError> {
    let lb = settings.lb;
    if let Some(problem) = lb.problem() {
        return Err(LbError::Config(problem));
    }
    ragmesh_telemetry::register_service("lb");
    let pool = Arc::new(UpstreamPool::new(&lb));
    let discovery = Arc::new(Discovery::new(pool.clone(), &lb));
    discovery.refresh_once().await;
    if pool.members().is_empty() {
        tracing::warn!("no upstream resolved yet: requests get 503 until one is configured");
    }

    let addr = server::reserve_address(&lb.listen)?;
    let active = Arc::new(AtomicUsize::new(0));
    let grace = Duration::from_millis(lb.shutdown_grace_ms);
    let proxy = proxy::LbProxy::new(pool.clone(), &lb, active.clone());
    let threads = lb.threads;
    let pingora_shutdown = shutdown.clone();
    let thread = tokio::task::spawn_blocking(move || {
        server::start(proxy, addr, threads, grace, pingora_shutdown)
    })
    .await
    .map_err(|e| LbError::Thread(std::io::Error::other(e.to_string())))??;

    let admin_addr = spawn_admin(&lb, pool.clone(), discovery.clone(), shutdown.clone()).await?;
    tokio::spawn(discovery.clone().run(shutdown.clone()));
    tokio::spawn(health::run(
        pool.clone(),
        health::HealthCheck::new(&lb),
        Duration::from_millis(lb.health_interval_ms),
        shutdown.clone(),
    ));
    tracing::info!(
        %addr,
        protocol = ?lb.protocol,
        selection = ?lb.selection,
        upstreams = pool.members().len(),
        "load balancer serving"
    );
    Ok(LbHandle {
        addr,
        admin_addr,
        pool,
        discovery,
        active,
        shutdown,
        grace,
        thread,
    })
}

/// The shape every ragmesh service has (`run(settings, listener, shutdown)`): serves on the
/// address of `listener` (released and rebound by Pingora) until `shutdown`, then drains.
pub async fn run(
    mut settings: Settings,
    listener: tokio::net::TcpListener,
    shutdown: CancellationToken,
) -> Result<(), LbError> {
    let addr = listener
        .local_addr()
        .map_err(|e| LbError::Listen(settings.lb.listen.clone(), e))?;
    drop(listener);
    settings.lb.listen = addr.to_string();
    let handle = spawn(settings, shutdown).await?;
    handle.stopped().await;
    Ok(())
}

async fn spawn_admin(
    lb: &LbSettings,
    pool: Arc<UpstreamPool>,
    discovery: Arc<Discovery>,
    shutdown: CancellationToken,
) -> Result<Option<SocketAddr>, LbError> {
    let listen = lb.metrics_listen.trim();
    if listen.is_empty() {
        return Ok(None);
    }
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| LbError::Listen(listen.to_string(), e))?;
    let local = listener
        .local_addr()
        .map_err(|e| LbError::Listen(listen.to_string(), e))?;
    let app = admin::router(admin::AdminState { pool, discovery });
    tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await;
        if let Err(e) = served {
            tracing::error!(error = %e, "lb admin listener failed");
        }
    });
    Ok(Some(local))
}

impl LbHandle {
    /// Replaces the upstream set with the `upstreams`/`upstreams_dns` of `lb` (other keys need
    /// a restart). Upstreams that stay keep their state and connections; requests in flight
    /// on removed ones finish. Returns the new upstream labels.
    pub async fn reload(&self, lb: &LbSettings) -> Result<Vec<String>, LbError> {
        if let Some(problem) = lb.problem() {
            return Err(LbError::Config(problem));
        }
        let labels = self.discovery.reload(UpstreamSpec::from_settings(lb)).await;
        tracing::info!(upstreams = ?labels, "upstreams reloaded");
        Ok(labels)
    }

    /// Every upstream's state.
    pub fn upstreams(&self) -> Vec<UpstreamState> {
        self.pool.states()
    }

    /// Requests in flight through the balancer.
    pub fn in_flight(&self) -> usize {
        self.active.load(Ordering::SeqCst)
    }

    /// Waits for the shutdown token, then for the requests in flight to finish (at most the
    /// grace). Returns true when none was left running.
    pub async fn stopped(self) -> bool {
        self.shutdown.cancelled().await;
        let deadline = Instant::now() + self.grace;
        while self.in_flight() > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let drained = self.in_flight() == 0;
        if drained {
            tracing::info!("load balancer drained");
        } else {
            tracing::warn!(
                in_flight = self.in_flight(),
                "grace over: dropping requests still in flight"
            );
        }
        // Pingora's thread ends after its own grace; it holds nothing a caller waits for.
        drop(self.thread);
        drained
    }
}
