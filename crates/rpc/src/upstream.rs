//! One backend as a caller sees it: its instances (one channel each, taken in turn), its
//! circuit breaker, and the rules of a call — one deadline for the whole call (each attempt
//! gets what is left, sent as `grpc-timeout`), one retry on the next instance for calls that
//! are safe to repeat when the first instance was unreachable or shed the call, and the
//! breaker told how the call went.
//!
//! What counts against the breaker: no answer (unreachable, deadline exceeded, transport
//! error) from the call as a whole. An answer — even an error such as NOT_FOUND or
//! RESOURCE_EXHAUSTED — shows the backend is alive and does not; nor does a first instance
//! that failed when the retry on another one answered.
//!
//! Per-instance passive ejection: an instance that did not answer is skipped for
//! [`EJECT_FOR`] (when the backend has other instances), then gets traffic again — the next
//! call is its probe, and failing it ejects it again. So a dead instance costs one failed
//! attempt (retried elsewhere) every few seconds, not one per call, and never opens the
//! backend's breaker while another instance answers. An instance can also be *fenced* by its
//! owner (a replica that has missed writes): fenced instances get no calls through
//! [`Upstream::call`] at all, only through [`Upstream::call_instance`].

use crate::{CircuitBreaker, ClientOptions, RpcError, dial};
use ragmesh_config::BreakerSettings;
use ragmesh_core::{ErrorCode, status_from};
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;
use tokio::time::Instant;
use tonic::transport::Channel;

/// Timer resolution: a CANCELLED this close to the deadline is the deadline.
const TIMER_SLACK: Duration = Duration::from_millis(5);
/// How long an instance that did not answer is skipped.
pub const EJECT_FOR: Duration = Duration::from_secs(3);

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
    pub fn is_backend_failure(&self) -> bool {
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
    /// Skipped until this many ms after `Upstream::epoch` (0: not ejected).
    ejected_until_ms: AtomicU64,
    fenced: AtomicBool,
}

#[derive(Debug)]
pub struct Upstream {
    name: &'static str,
    instances: Vec<Instance>,
    next: AtomicUsize,
    breaker: CircuitBreaker,
    retry_enabled: bool,
    epoch: Instant,
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
        metrics::counter!("ragmesh_backend_ejections_total", "backend" => name).increment(0);
        if urls.is_empty() {
            return Err(RpcError::NoUrl { service: name });
        }
        let instances = urls
            .iter()
            .map(|url| {
                Ok(Instance {
                    url: url.clone(),
                    channel: dial(name, url, options)?,
                    ejected_until_ms: AtomicU64::new(0),
                    fenced: AtomicBool::new(false),
                })
            })
            .collect::<Result<Vec<_>, RpcError>>()?;
        Ok(Upstream {
            name,
            instances,
            next: AtomicUsize::new(0),
            breaker: crate::backend_breaker(name, breaker),
            retry_enabled,
            epoch: Instant::now(),
        })
    }

    /// Number of instances.
    pub fn len(&self) -> usize {
        self.instances.len()
    }

    /// Always false: an upstream has at least one instance.
    pub fn is_empty(&self) -> bool {
        self.instances.is_empty()
    }

    /// URL of instance `index`.
    pub fn url(&self, index: usize) -> &str {
        &self.instances[index].url
    }

    /// Fences instance `index` (true: no calls through [`Upstream::call`]) or lifts it.
    pub fn set_fenced(&self, index: usize, fenced: bool) {
        if let Some(instance) = self.instances.get(index) {
            instance.fenced.store(fenced, Ordering::Relaxed);
        }
    }

    pub fn is_fenced(&self, index: usize) -> bool {
        self.instances
            .get(index)
            .is_some_and(|i| i.fenced.load(Ordering::Relaxed))
    }

    /// Whether instance `index` is being skipped after failing to answer.
    pub fn is_ejected(&self, index: usize) -> bool {
        self.instances
            .get(index)
            .is_some_and(|i| i.ejected_until_ms.load(Ordering::Relaxed) > self.now_ms())
    }

    fn now_ms(&self) -> u64 {
        // +1: 0 means "not ejected" even in the first millisecond.
        self.epoch.elapsed().as_millis() as u64 + 1
    }

    /// Records how instance `index` answered: no answer ejects it (when there are others to
    /// take its calls); an answer ends an ejection.
    fn observe(&self, index: usize, outcome: Result<(), &CallError>) {
        let instance = &self.instances[index];
        match outcome {
            Err(err) if err.is_backend_failure() && self.instances.len() > 1 => {
                let until = self.now_ms() + EJECT_FOR.as_millis() as u64;
                let before = instance.ejected_until_ms.swap(until, Ordering::Relaxed);
                if before <= self.now_ms() {
                    metrics::counter!("ragmesh_backend_ejections_total", "backend" => self.name)
                        .increment(1);
                    tracing::warn!(
                        backend = self.name,
                        instance = %instance.url,
                        eject_ms = EJECT_FOR.as_millis() as u64,
                        "instance did not answer; skipped for a while"
                    );
                }
            }
            Err(_) => {}
            Ok(()) => instance.ejected_until_ms.store(0, Ordering::Relaxed),
        }
    }

    /// The instance for a call, starting from `start` in turn and skipping `except`: the
    /// first neither fenced nor ejected, else the first not fenced; None when all are fenced.
    fn pick(&self, start: usize, except: Option<usize>) -> Option<usize> {
        let n = self.instances.len();
        let now = self.now_ms();
        let candidates = (0..n)
            .map(|i| (start + i) % n)
            .filter(|&i| Some(i) != except && !self.instances[i].fenced.load(Ordering::Relaxed));
        let mut fallback = None;
        for i in candidates {
            if self.instances[i].ejected_until_ms.load(Ordering::Relaxed) <= now {
                return Some(i);
            }
            fallback.get_or_insert(i);
        }
        fallback
    }

    /// One call to instance `index` only, under the deadline `timeout`: no breaker, no
    /// retry (for writes that must reach every replica); a failure to answer ejects it.
    pub async fn call_instance<T, F, Fut>(
        &self,
        index: usize,
        timeout: Duration,
        mut attempt: F,
    ) -> Result<T, CallError>
    where
        F: FnMut(Channel, Duration) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        let deadline = Instant::now() + timeout;
        let result = self.attempt(index, deadline, timeout, &mut attempt).await;
        self.observe(index, result.as_ref().map(|_| ()));
        result
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
        let start = self.next.fetch_add(1, Ordering::Relaxed) % self.instances.len();
        let Some(first) = self.pick(start, None) else {
            drop(permit);
            return Err(CallError::Status(tonic::Status::unavailable(
                "every instance is catching up on missed writes",
            )));
        };
        let mut result = self.attempt(first, deadline, timeout, &mut attempt).await;
        self.observe(first, result.as_ref().map(|_| ()));
        if let Err(err) = &result
            && retry == Retry::OnAnotherInstance
            && self.retry_enabled
            && err.worth_another_instance()
            && let Some(second) = self.pick(first + 1, Some(first))
        {
            metrics::counter!("ragmesh_backend_retries_total", "backend" => self.name).increment(1);
            tracing::info!(
                backend = self.name,
                failed = %self.instances[first].url,
                retry = %self.instances[second].url,
                "retrying on another instance"
            );
            result = self.attempt(second, deadline, timeout, &mut attempt).await;
            self.observe(second, result.as_ref().map(|_| ()));
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn two_instances() -> Upstream {
        let urls = [
            "http://127.0.0.1:9".to_string(),
            "http://127.0.0.1:10".to_string(),
        ];
        Upstream::new(
            "eject-test",
            &urls,
            &ClientOptions::from_settings(&ragmesh_config::RpcSettings::default()),
            &BreakerSettings::default(),
            true,
        )
        .unwrap()
    }

    #[tokio::test]
    async fn an_instance_that_did_not_answer_is_skipped_until_it_answers_again() {
        let upstream = two_instances();
        assert_eq!(upstream.pick(0, None), Some(0));
        let no_answer = CallError::Status(tonic::Status::unavailable("connection refused"));
        upstream.observe(0, Err(&no_answer));
        assert!(upstream.is_ejected(0));
        // Every call now starts on the live instance, whichever turn it is.
        assert_eq!(upstream.pick(0, None), Some(1));
        assert_eq!(upstream.pick(1, None), Some(1));
        // The ejected one is still the fallback when the other is excluded.
        assert_eq!(upstream.pick(0, Some(1)), Some(0));
        // An answer (even an error one) ends the ejection.
        upstream.observe(0, Err(&CallError::Status(tonic::Status::not_found("x"))));
        assert!(upstream.is_ejected(0));
        upstream.observe(0, Ok(()));
        assert!(!upstream.is_ejected(0));
        assert_eq!(upstream.pick(0, None), Some(0));
    }

    #[tokio::test]
    async fn fenced_instances_get_no_calls_and_a_lone_instance_is_never_ejected() {
        let upstream = two_instances();
        upstream.set_fenced(1, true);
        assert_eq!(upstream.pick(1, None), Some(0));
        assert_eq!(upstream.pick(0, Some(0)), None);
        upstream.set_fenced(0, true);
        assert_eq!(upstream.pick(0, None), None);

        let lone = Upstream::new(
            "eject-test",
            &["http://127.0.0.1:9".to_string()],
            &ClientOptions::from_settings(&ragmesh_config::RpcSettings::default()),
            &BreakerSettings::default(),
            true,
        )
        .unwrap();
        lone.observe(0, Err(&CallError::DeadlineExceeded { timeout: EJECT_FOR }));
        assert!(!lone.is_ejected(0));
    }
}
