//! Upstream doubles and helpers: small axum and tonic servers, each on its own tokio runtime
//! so that `kill` really closes every socket (pooled connections included), a balancer on free
//! ports in front of them, and bounded polling of its `/metrics`.

use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use ragmesh_config::{LbSettings, Settings};
use ragmesh_lb::LbHandle;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// Longest any awaited condition may take before the test fails.
pub const WAIT: Duration = Duration::from_secs(10);

/// What a double shares with the test.
#[derive(Default)]
pub struct Shared {
    pub hits: AtomicUsize,
    /// Requests currently parked in `/hold` or `/sse`.
    pub held: AtomicUsize,
    pub release: Notify,
    pub last_traceparent: parking_lot::Mutex<Option<String>>,
}

#[derive(Clone)]
struct DoubleState {
    name: String,
    shared: Arc<Shared>,
}

/// An HTTP upstream double: `/health/ready`, `/who` (its name), `/hold` (answers its name once
/// released), `/sse` (one event, then a second once released).
pub struct HttpDouble {
    pub name: String,
    pub addr: SocketAddr,
    pub shared: Arc<Shared>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl HttpDouble {
    pub fn start(name: &str) -> HttpDouble {
        Self::start_on(name, "127.0.0.1:0".parse().unwrap(), Arc::default())
    }

    fn start_on(name: &str, addr: SocketAddr, shared: Arc<Shared>) -> HttpDouble {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let socket = bind_retrying(addr);
        let addr = socket.local_addr().unwrap();
        let state = DoubleState {
            name: name.to_string(),
            shared: shared.clone(),
        };
        let app = Router::new()
            .route("/health/ready", get(|| async { "ok" }))
            .route("/who", get(who))
            .route("/hold", get(hold))
            .route("/sse", get(sse))
            .with_state(state);
        runtime.spawn(async move {
            let listener = socket.listen(1024).unwrap();
            axum::serve(listener, app).await
        });
        HttpDouble {
            name: name.to_string(),
            addr,
            shared,
            runtime: Some(runtime),
        }
    }

    /// Stops answering at once: the listener and every connection close.
    pub fn kill(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }

    /// Starts again on the same port, keeping the counters.
    pub fn restart(&mut self) {
        self.kill();
        let fresh = Self::start_on(&self.name, self.addr, self.shared.clone());
        *self = fresh;
    }

    pub fn hits(&self) -> usize {
        self.shared.hits.load(Ordering::SeqCst)
    }

    /// Waits until `n` requests are parked in `/hold` or `/sse`.
    pub async fn wait_held(&self, n: usize) {
        wait_until("requests parked in the double", || async {
            self.shared.held.load(Ordering::SeqCst) >= n
        })
        .await;
    }

    pub fn release(&self) {
        self.shared.release.notify_waiters();
    }
}

impl Drop for HttpDouble {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Binds `addr` with SO_REUSEADDR (a restarted double takes its old port back).
pub fn bind_retrying(addr: SocketAddr) -> tokio::net::TcpSocket {
    let start = Instant::now();
    loop {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_reuseaddr(true).unwrap();
        match socket.bind(addr) {
            Ok(()) => return socket,
            Err(e) if start.elapsed() > WAIT => panic!("cannot bind {addr}: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

async fn who(State(state): State<DoubleState>, headers: HeaderMap) -> Response {
    state.shared.hits.fetch_add(1, Ordering::SeqCst);
    let traceparent = headers
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    *state.shared.last_traceparent.lock() = traceparent;
    state.name.clone().into_response()
}

async fn hold(State(state): State<DoubleState>) -> Response {
    state.shared.hits.fetch_add(1, Ordering::SeqCst);
    let released = state.shared.release.notified();
    state.shared.held.fetch_add(1, Ordering::SeqCst);
    released.await;
    state.shared.held.fetch_sub(1, Ordering::SeqCst);
    state.name.clone().into_response()
}

async fn sse(State(state): State<DoubleState>) -> Response {
    use axum::response::sse::Sse;
    state.shared.hits.fetch_add(1, Ordering::SeqCst);
    let shared = state.shared.clone();
    let events = async_stream(shared);
    Sse::new(events).into_response()
}

fn async_stream(
    shared: Arc<Shared>,
) -> impl futures::Stream<Item = Result<axum::response::sse::Event, std::convert::Infallible>> {
    use axum::response::sse::Event;
    futures::stream::unfold(0u8, move |step| {
        let shared = shared.clone();
        async move {
            match step {
                0 => Some((Ok(Event::default().data("first")), 1)),
                1 => {
                    let released = shared.release.notified();
                    shared.held.fetch_add(1, Ordering::SeqCst);
                    released.await;
                    shared.held.fetch_sub(1, Ordering::SeqCst);
                    Some((Ok(Event::default().data("last")), 2))
                }
                _ => None,
            }
        }
    })
}

/// A balancer on free ports in front of `upstreams`, health checks every 100 ms.
pub async fn start_lb(
    upstreams: &[SocketAddr],
    tweak: impl FnOnce(&mut LbSettings),
) -> (LbHandle, CancellationToken) {
    let mut settings = Settings::default();
    settings.lb.listen = "127.0.0.1:0".into();
    settings.lb.metrics_listen = "127.0.0.1:0".into();
    settings.lb.health_interval_ms = 100;
    settings.lb.health_timeout_ms = 500;
    settings.lb.connect_timeout_ms = 500;
    settings.lb.shutdown_grace_ms = 5_000;
    settings.lb.upstreams = join(upstreams);
    tweak(&mut settings.lb);
    let shutdown = CancellationToken::new();
    let handle = ragmesh_lb::spawn(settings, shutdown.clone()).await.unwrap();
    (handle, shutdown)
}

pub fn join(upstreams: &[SocketAddr]) -> String {
    upstreams
        .iter()
        .map(|a| a.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

pub async fn get_text(base: &LbHandle, path: &str) -> (u16, String) {
    let response = client()
        .get(format!("http://{}{path}", base.addr))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

/// The balancer's `/metrics` text.
pub async fn metrics(lb: &LbHandle) -> String {
    let admin = lb.admin_addr.unwrap();
    client()
        .get(format!("http://{admin}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// The value of the sample whose line starts with `series` (name and labels), if present.
pub fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// Polls `condition` until it holds, failing the test after [`WAIT`].
pub async fn wait_until<F, Fut>(what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while !condition().await {
        assert!(start.elapsed() < WAIT, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
