//! One backend as a caller sees it: its instances (one channel each, taken in turn), its
//! circuit breaker, and the rules of a call — one deadline for the whole call (each attempt
//! gets what is left, sent as `grpc-timeout`), one retry on the next instance for calls that
//! are safe to repeat when the first instance was unreachable or shed the call, and the
//! breaker told how the call went.
//!
//! What counts against the breaker: no answer (unreachable, deadline exceeded, transport
//! error). An answer — even an error such as NOT_FOUND or RESOURCE_EXHAUSTED — shows the
//! backend is alive and does not.

use crate::{CircuitBreaker, ClientOptions, RpcError, dial};
use ragmesh_config::BreakerSettings;
use ragmesh_core::{ErrorCode, status_from};
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::time::Instant;
use tonic::transport::Channel;

/// Timer resolution: a CANCELLED this close to the deadline is the deadline.
const TIMER_SLACK: Duration = Duration::from_millis(5);

/// Whether a call may be sent again to another instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Safe to repeat (Embed, Retrieve, Rerank, health; and opening Generate, which returns
    /// before any token was produced).
    OnAnotherInstance,
    /// Never repeated (writes).
    Never,
}

/// Why a call failed.
#[derive(Debug)]
pub enum CallError {
    /// The breaker is open: nothing was sent.
    Open {
        retry_after: Duration,
        failures: u32,
    },
    /// No answer within the call's deadline.
    DeadlineExceeded { timeout: Duration },
    /// The backend (or the transport) answered with this status.
    Status(tonic::Status),
}

impl CallError {
    /// Whether this outcome means the backend did not answer (counts against the breaker).
    fn is_backend_failure(&self) -> bool {
        match self {
            CallError::Open { .. } => false,
            CallError::DeadlineExceeded { .. } => true,
            CallError::Status(status) => matches!(
                status_from(status),
                ErrorCode::Unavailable | ErrorCode::DeadlineExceeded
            ),
        }
    }

    /// Whether another instance may do better (this one is unreachable or overloaded).
    fn worth_another_instance(&self) -> bool {
        match self {
            CallError::Status(status) => matches!(
                status_from(status),
                ErrorCode::Unavailable | ErrorCode::ResourceExhausted
            ),
            _ => false,
        }
    }
}

#[derive(Debug)]
struct Instance {
    url: String,
    channel: Channel,
}

#[derive(Debug)]
pub struct Upstream {
    name: &'static str,
    instances: Vec<Instance>,
    next: AtomicUsize,
    breaker: CircuitBreaker,
    retry_enabled: bool,
}

impl Upstream {
    /// Lazily dialled channels to every URL of `name` (nothing is contacted yet).
    pub fn new(
        name: &'static str,
        urls: &[String],
        options: &ClientOptions,
        breaker: &BreakerSettings,
        retry_enabled: bool,
    ) -> Result<Upstream, RpcError> {
        // Created at zero so rates and alerts see the series before the first retry.
        metrics::counter!("ragmesh_backend_retries_total", "backend" => name).increment(0);
        if urls.is_empty() {
            return Err(RpcError::NoUrl { service: name });
        }
        let instances = urls
            .iter()
            .map(|url| {
                Ok(Instance {
                    url: url.clone(),
                    channel: dial(name, url, options)?,
                })
            })
            .collect::<Result<Vec<_>, RpcError>>()?;
        Ok(Upstream {
            name,
            instances,
            next: AtomicUsize::new(0),
            breaker: CircuitBreaker::new(name, breaker),
            retry_enabled,
        })
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    pub fn breaker(&self) -> &CircuitBreaker {
        &self.breaker
    }

    /// Every instance's URL and channel (health checks ask each one).
    pub fn instances(&self) -> impl Iterator<Item = (&str, &Channel)> {
        self.instances.iter().map(|i| (i.url.as_str(), &i.channel))
    }

    /// Runs `attempt` (given a channel and the time left, to send as `grpc-timeout`) under the
    /// breaker and the deadline `timeout`; retried once on the next instance when `retry`
    /// allows it and the first instance was unreachable or overloaded.
    pub async fn call<T, F, Fut>(
        &self,
        retry: Retry,
        timeout: Duration,
        mut attempt: F,
    ) -> Result<T, CallError>
    where
        F: FnMut(Channel, Duration) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        let permit = self
            .breaker
            .try_acquire()
            .map_err(|rejected| CallError::Open {
                retry_after: rejected.retry_after,
                failures: rejected.failures,
            })?;
        let deadline = Instant::now() + timeout;
        let first = self.next.fetch_add(1, Ordering::Relaxed) % self.instances.len();
        let mut result = self.attempt(first, deadline, timeout, &mut attempt).await;
        if let Err(err) = &result
            && retry == Retry::OnAnotherInstance
            && self.retry_enabled
            && self.instances.len() > 1
            && err.worth_another_instance()
        {
            let second = (first + 1) % self.instances.len();
            metrics::counter!("ragmesh_backend_retries_total", "backend" => self.name).increment(1);
            tracing::info!(
                backend = self.name,
                failed = %self.instances[first].url,
                retry = %self.instances[second].url,
                "retrying on another instance"
            );
            result = self.attempt(second, deadline, timeout, &mut attempt).await;
        }
        match &result {
            Ok(_) => permit.success(),
            Err(err) if err.is_backend_failure() => permit.failure(),
            // Shed load: alive but busy, neither a success nor a failure.
            Err(CallError::Status(s)) if status_from(s) == ErrorCode::ResourceExhausted => {
                drop(permit)
            }
            Err(_) => permit.success(),
        }
        result
    }

    async fn attempt<T, F, Fut>(
        &self,
        index: usize,
        deadline: Instant,
        timeout: Duration,
        attempt: &mut F,
    ) -> Result<T, CallError>
    where
        F: FnMut(Channel, Duration) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(CallError::DeadlineExceeded { timeout });
        }
        let channel = self.instances[index].channel.clone();
        match tokio::time::timeout_at(deadline, attempt(channel, left)).await {
            Err(_) => Err(CallError::DeadlineExceeded { timeout }),
            // tonic's channel enforces the same `grpc-timeout` and may win the race, reporting
            // CANCELLED "Timeout expired" (no source to inspect): at the deadline, it is one.
            Ok(Err(status))
                if status.code() == tonic::Code::Cancelled
                    && Instant::now() + TIMER_SLACK >= deadline =>
            {
                Err(CallError::DeadlineExceeded { timeout })
            }
            Ok(Err(status)) => Err(CallError::Status(status)),
            Ok(Ok(response)) => Ok(response.into_inner()),
        }
    }
}
