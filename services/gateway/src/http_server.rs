//! The gateway's HTTP server loop, written out instead of `axum::serve` because that one has
//! no defence against slow clients: no header-read timeout, no bound on idle keep-alive
//! connections, no cap on connections. A probe held 100 slowloris connections open for 30 s
//! and stalled uploads kept their buffers for minutes. Here (`[gateway.http]`):
//!
//! - at most `max_connections` connections are served at once; the next one is accepted only
//!   when one closes (the rest wait in the kernel's backlog);
//! - a connection must say which protocol it speaks (its first bytes) within
//!   `header_read_timeout_ms`, which hyper's own auto-detection would wait for without end;
//! - HTTP/1 request heads must arrive within `header_read_timeout_ms`; hyper starts that
//!   clock whenever it waits for a head, so it also closes a keep-alive connection left idle
//!   that long;
//! - a request body must keep coming ([`BodyPace`]): each piece within
//!   `body_read_timeout_ms` of the last, and on average at least `body_min_bytes_per_sec`
//!   after the first window; a body that falls behind fails (408) and its memory is released;
//! - shutdown stops accepting, lets connections finish what they are doing, then returns.

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use bytes::Bytes;
use http_body::{Frame, SizeHint};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use ragmesh_config::HttpSettings;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::time::{Instant, Sleep};
use tokio_util::sync::CancellationToken;

/// Serves `app` on `listener` until `shutdown` is cancelled, then waits for open connections
/// to finish their requests.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    settings: &HttpSettings,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let slots = Arc::new(Semaphore::new(settings.max_connections));
    let header_timeout = Duration::from_millis(settings.header_read_timeout_ms);
    let graceful = GracefulShutdown::new();
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_millis(settings.header_read_timeout_ms))
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Duration::from_millis(settings.header_read_timeout_ms))
        .keep_alive_timeout(Duration::from_millis(settings.header_read_timeout_ms));
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
            () = shutdown.cancelled() => break,
        };
        let (tcp, _peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: wait a little rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = shutdown.cancelled() => break,
        };
        // TCP_NODELAY: SSE token events are small writes that must not wait for a delayed ACK.
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY");
        }
        let service = TowerToHyperService::new(app.clone());
        let builder = builder.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            // hyper's head timeout starts once it knows the protocol; until the first bytes
            // say HTTP/1 or HTTP/2 it would wait for ever.
            if !protocol_known(&tcp, header_timeout).await {
                drop(slot);
                return;
            }
            let connection = builder.serve_connection_with_upgrades(TokioIo::new(tcp), service);
            if let Err(e) = watcher.watch(connection.into_owned()).await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
            drop(slot);
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// The HTTP/2 connection preface; anything else is HTTP/1.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Waits (at most `timeout`) until the first bytes tell HTTP/1 from HTTP/2: false when the
/// client sent nothing decisive in time or closed.
async fn protocol_known(tcp: &tokio::net::TcpStream, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    let mut buf = [0u8; 24];
    loop {
        let peeked = tokio::time::timeout_at(deadline, tcp.peek(&mut buf)).await;
        let n = match peeked {
            Ok(Ok(n)) if n > 0 => n,
            _ => return false,
        };
        if n >= H2_PREFACE.len() || buf[..n] != H2_PREFACE[..n] {
            return true;
        }
        // A partial HTTP/2 preface: peek returns at once until more comes, so wait a little.
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// How fast a request body must come, from `[gateway.http]`.
#[derive(Debug, Clone, Copy)]
pub struct BodyPace {
    /// Longest wait for the next piece.
    pub stall: Duration,
    /// Average rate required after the first `stall` window.
    pub min_bytes_per_sec: u64,
}

impl BodyPace {
    pub fn from_settings(settings: &HttpSettings) -> BodyPace {
        BodyPace {
            stall: Duration::from_millis(settings.body_read_timeout_ms),
            min_bytes_per_sec: settings.body_min_bytes_per_sec,
        }
    }
}

/// Middleware: the request body goes through a [`PacedBody`].
pub async fn pace_body(State(pace): State<BodyPace>, request: Request, next: Next) -> Response {
    let request = request.map(|body| Body::new(PacedBody::new(body, pace)));
    next.run(request).await
}

/// The error a body that fell behind its pace ends with; handlers answer 408 for it
/// ([`is_body_timeout`]).
#[derive(Debug, thiserror::Error)]
#[error(
    "the request body came too slowly: {received} bytes in {elapsed_ms} ms (each piece must \
     come within {stall_ms} ms, and at least {min_rate} bytes/s on average; \
     gateway.http.body_read_timeout_ms, body_min_bytes_per_sec)"
)]
pub struct BodyTimeout {
    received: u64,
    elapsed_ms: u128,
    stall_ms: u128,
    min_rate: u64,
}

/// True when `error` (or what it wraps) is a [`BodyTimeout`].
pub fn is_body_timeout(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(e) = current {
        if e.is::<BodyTimeout>() {
            return true;
        }
        current = e.source();
    }
    false
}

/// A body that fails once it falls behind its [`BodyPace`].
pub struct PacedBody {
    inner: Body,
    pace: BodyPace,
    started: Instant,
    received: u64,
    deadline: Pin<Box<Sleep>>,
}

impl PacedBody {
    fn new(inner: Body, pace: BodyPace) -> PacedBody {
        let started = Instant::now();
        PacedBody {
            inner,
            pace,
            started,
            received: 0,
            deadline: Box::pin(tokio::time::sleep_until(started + pace.stall)),
        }
    }

    /// The next piece must come by the earlier of: `stall` after the last one, and the time
    /// by which the bytes so far would have come at the minimum rate (plus the first window).
    fn next_deadline(&self, now: Instant) -> Instant {
        let by_stall = now + self.pace.stall;
        if self.pace.min_bytes_per_sec == 0 {
            return by_stall;
        }
        let at_rate =
            Duration::from_secs_f64(self.received as f64 / self.pace.min_bytes_per_sec as f64);
        by_stall.min(self.started + self.pace.stall + at_rate)
    }
}

impl http_body::Body for PacedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.received += data.len() as u64;
                    let now = Instant::now();
                    let next = this.next_deadline(now);
                    this.deadline.as_mut().reset(next);
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Pending => match this.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(axum::Error::new(BodyTimeout {
                    received: this.received,
                    elapsed_ms: this.started.elapsed().as_millis(),
                    stall_ms: this.pace.stall.as_millis(),
                    min_rate: this.pace.min_bytes_per_sec,
                })))),
                Poll::Pending => Poll::Pending,
            },
            other => other,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use futures::StreamExt;

    #[tokio::test]
    async fn a_body_that_stalls_fails_with_a_timeout_and_a_steady_one_does_not() {
        let pace = BodyPace {
            stall: Duration::from_secs(2),
            min_bytes_per_sec: 1000,
        };
        // One piece, then nothing.
        let (tx, rx) = futures::channel::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
        let mut tx = tx;
        tx.try_send(Ok(Bytes::from_static(b"hello"))).unwrap();
        let body = PacedBody::new(Body::from_stream(rx), pace);
        let mut stream = Body::new(body).into_data_stream();
        assert_eq!(stream.next().await.unwrap().unwrap(), "hello");
        let err = stream.next().await.unwrap().unwrap_err();
        assert!(is_body_timeout(&err), "{err}");
        assert!(err.to_string().contains("came too slowly"), "{err}");
        drop(tx);

        // 200 bytes every 100 ms keeps well above 1000 bytes/s and never stalls 2 s.
        let (mut tx, rx) = futures::channel::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
        tokio::spawn(async move {
            for _ in 0..5 {
                tokio::time::sleep(Duration::from_millis(100)).await;
                tx.try_send(Ok(Bytes::from(vec![b'x'; 200]))).unwrap();
            }
        });
        let body = Body::new(PacedBody::new(Body::from_stream(rx), pace));
        let all = axum::body::to_bytes(body, usize::MAX).await.unwrap();
        assert_eq!(all.len(), 1000);

        // 1 byte every 500 ms never stalls 2 s, but falls far behind 1000 bytes/s: cut.
        let (mut tx, rx) = futures::channel::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
        tokio::spawn(async move {
            for _ in 0..20 {
                tokio::time::sleep(Duration::from_millis(500)).await;
                if tx.try_send(Ok(Bytes::from_static(b"x"))).is_err() {
                    return;
                }
            }
        });
        let body = Body::new(PacedBody::new(Body::from_stream(rx), pace));
        let err = axum::body::to_bytes(body, usize::MAX).await.unwrap_err();
        assert!(is_body_timeout(&err), "{err}");
    }
}
