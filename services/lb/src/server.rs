//! Pingora on its own OS thread. `Server::run` builds its own runtimes and blocks, so it can
//! never run inside the caller's tokio runtime; it is stopped by a [`ShutdownSignalWatch`]
//! that waits for the balancer's cancellation token instead of process signals.
//!
//! Pingora cannot report the port it bound, so the listen address is bound once here first
//! (which also turns "address in use" into a clean error and resolves port 0 to a free port),
//! released, and handed to Pingora by number; start-up then waits until the port accepts.

use crate::LbError;
use crate::proxy::LbProxy;
use async_trait::async_trait;
use pingora::apps::HttpServerOptions;
use pingora::server::{RunArgs, Server, ShutdownSignal, ShutdownSignalWatch};
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// How long Pingora may take to start accepting.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// Stops Pingora gracefully (stop accepting, let requests finish) when the token is cancelled.
struct TokenSignal(CancellationToken);

#[async_trait]
impl ShutdownSignalWatch for TokenSignal {
    async fn recv(&self) -> ShutdownSignal {
        self.0.cancelled().await;
        ShutdownSignal::GracefulTerminate
    }
}

/// The concrete address to give Pingora for `listen` (port 0 becomes a free port).
pub fn reserve_address(listen: &str) -> Result<SocketAddr, LbError> {
    let listener = std::net::TcpListener::bind(listen.trim())
        .map_err(|e| LbError::Listen(listen.to_string(), e))?;
    listener
        .local_addr()
        .map_err(|e| LbError::Listen(listen.to_string(), e))
}

/// Starts Pingora with `proxy` on `addr` (HTTP/1.1 and h2c) and returns once it accepts.
/// `grace` bounds how long in-flight requests may run after `shutdown`.
pub fn start(
    proxy: LbProxy,
    addr: SocketAddr,
    threads: usize,
    grace: Duration,
    shutdown: CancellationToken,
) -> Result<JoinHandle<()>, LbError> {
    let mut server = Server::new(None).map_err(|e| LbError::Config(e.to_string()))?;
    if let Some(conf) = Arc::get_mut(&mut server.configuration) {
        conf.threads = threads;
        conf.work_stealing = true;
        // Pingora waits this long (whole seconds) before it drops the requests still running;
        // the balancer's own drain (LbHandle::stopped) returns as soon as none is left.
        conf.grace_period_seconds = Some(grace.as_millis().div_ceil(1000) as u64);
        conf.graceful_shutdown_timeout_seconds = Some(1);
    }
    server.bootstrap();
    let mut service = pingora::proxy::http_proxy_service(&server.configuration, proxy);
    service.add_tcp(&addr.to_string());
    if let Some(app) = service.app_logic_mut() {
        let mut options = HttpServerOptions::default();
        options.h2c = true;
        app.server_options = Some(options);
    }
    server.add_service(service);
    let thread = std::thread::Builder::new()
        .name("lb-pingora".into())
        .spawn(move || {
            server.run(RunArgs {
                shutdown_signal: Box::new(TokenSignal(shutdown)),
            });
        })
        .map_err(LbError::Thread)?;
    let started = Instant::now();
    loop {
        if std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return Ok(thread);
        }
        if thread.is_finished() || started.elapsed() > START_TIMEOUT {
            return Err(LbError::NotListening(addr.to_string(), START_TIMEOUT));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
