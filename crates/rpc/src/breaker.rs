//! A circuit breaker per backend, so a backend that is down or stalled costs callers nothing
//! but a fast error instead of a connect timeout or a deadline each.
//!
//! Closed: calls pass; `failure_threshold` consecutive failures open it. Open: calls are
//! rejected at once (with how long until the next try) for `open_ms`. Half-open: up to
//! `half_open_max_calls` trial calls pass; `close_after_successes` successes close it, any
//! failure opens it again. Outcomes of calls admitted before the last transition are ignored,
//! so a slow call that started while closed cannot close a breaker that has since opened.
//! Every transition is logged and exported as `ragmesh_breaker_state{backend}`
//! (0 closed, 1 half-open, 2 open) and `ragmesh_breaker_transitions_total{backend,to}`.

use parking_lot::Mutex;
use ragmesh_config::BreakerSettings;
use std::time::{Duration, Instant};

/// How long a caller is told to wait when half-open trial slots are all taken.
const HALF_OPEN_RETRY_AFTER: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    Closed,
    HalfOpen,
    Open,
}

impl BreakerState {
    pub fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::HalfOpen => "half_open",
            BreakerState::Open => "open",
        }
    }

    /// The value of the `ragmesh_breaker_state` gauge.
    pub fn gauge_value(self) -> f64 {
        match self {
            BreakerState::Closed => 0.0,
            BreakerState::HalfOpen => 1.0,
            BreakerState::Open => 2.0,
        }
    }
}

/// A call the breaker did not let through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rejected {
    /// When the breaker will let a trial call through, from now.
    pub retry_after: Duration,
    /// Consecutive failures that opened it.
    pub failures: u32,
}

#[derive(Debug, Clone, Copy)]
enum State {
    Closed { failures: u32 },
    Open { until: Instant, failures: u32 },
    HalfOpen { admitted: u32, successes: u32 },
}

impl State {
    fn kind(&self) -> BreakerState {
        match self {
            State::Closed { .. } => BreakerState::Closed,
            State::Open { .. } => BreakerState::Open,
            State::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }
}

#[derive(Debug)]
struct Inner {
    state: State,
    /// Bumped on every transition; permits from another epoch have no say.
    epoch: u64,
}

#[derive(Debug)]
pub struct CircuitBreaker {
    backend: &'static str,
    settings: BreakerSettings,
    inner: Mutex<Inner>,
}

impl CircuitBreaker {
    pub fn new(backend: &'static str, settings: &BreakerSettings) -> CircuitBreaker {
        metrics::gauge!("ragmesh_breaker_state", "backend" => backend)
            .set(BreakerState::Closed.gauge_value());
        CircuitBreaker {
            backend,
            settings: settings.clone(),
            inner: Mutex::new(Inner {
                state: State::Closed { failures: 0 },
                epoch: 0,
            }),
        }
    }

    pub fn backend(&self) -> &'static str {
        self.backend
    }

    /// The state now (an open breaker whose time is up reports half-open: the next call is
    /// a trial).
    pub fn state(&self) -> BreakerState {
        self.state_at(Instant::now())
    }

    pub fn state_at(&self, now: Instant) -> BreakerState {
        match self.inner.lock().state {
            State::Open { until, .. } if now >= until => BreakerState::HalfOpen,
            state => state.kind(),
        }
    }

    /// Lets a call through (the permit must be told how it went) or rejects it.
    pub fn try_acquire(&self) -> Result<BreakerPermit<'_>, Rejected> {
        self.try_acquire_at(Instant::now())
    }

    pub fn try_acquire_at(&self, now: Instant) -> Result<BreakerPermit<'_>, Rejected> {
        let mut inner = self.inner.lock();
        match inner.state {
            State::Closed { .. } => {}
            State::Open { until, failures } if now < until => {
                return Err(Rejected {
                    retry_after: until - now,
                    failures,
                });
            }
            State::Open { .. } => {
                self.transition(
                    &mut inner,
                    State::HalfOpen {
                        admitted: 1,
                        successes: 0,
                    },
                );
            }
            State::HalfOpen {
                admitted,
                successes,
            } => {
                if admitted >= self.settings.half_open_max_calls {
                    return Err(Rejected {
                        retry_after: HALF_OPEN_RETRY_AFTER,
                        failures: self.settings.failure_threshold,
                    });
                }
                inner.state = State::HalfOpen {
                    admitted: admitted + 1,
                    successes,
                };
            }
        }
        Ok(BreakerPermit {
            breaker: self,
            epoch: inner.epoch,
            settled: false,
        })
    }

    fn record(&self, epoch: u64, success: bool, now: Instant) {
        let mut inner = self.inner.lock();
        if inner.epoch != epoch {
            return;
        }
        let threshold = self.settings.failure_threshold;
        let open = |failures| State::Open {
            until: now + Duration::from_millis(self.settings.open_ms),
            failures,
        };
        match (inner.state, success) {
            (State::Closed { .. }, true) => inner.state = State::Closed { failures: 0 },
            (State::Closed { failures }, false) if failures + 1 >= threshold => {
                self.transition(&mut inner, open(failures + 1));
            }
            (State::Closed { failures }, false) => {
                inner.state = State::Closed {
                    failures: failures + 1,
                }
            }
            (
                State::HalfOpen {
                    admitted,
                    successes,
                },
                true,
            ) => {
                if successes + 1 >= self.settings.close_after_successes {
                    self.transition(&mut inner, State::Closed { failures: 0 });
                } else {
                    inner.state = State::HalfOpen {
                        admitted,
                        successes: successes + 1,
                    };
                }
            }
            (State::HalfOpen { .. }, false) => self.transition(&mut inner, open(threshold)),
            (State::Open { .. }, _) => {}
        }
    }

    /// A permit dropped without an outcome (its caller went away) frees its trial slot.
    fn release(&self, epoch: u64) {
        let mut inner = self.inner.lock();
        if inner.epoch != epoch {
            return;
        }
        if let State::HalfOpen {
            admitted,
            successes,
        } = inner.state
        {
            inner.state = State::HalfOpen {
                admitted: admitted.saturating_sub(1),
                successes,
            };
        }
    }

    fn transition(&self, inner: &mut Inner, to: State) {
        let from = inner.state.kind();
        inner.state = to;
        inner.epoch += 1;
        let to = to.kind();
        metrics::gauge!("ragmesh_breaker_state", "backend" => self.backend).set(to.gauge_value());
        metrics::counter!("ragmesh_breaker_transitions_total", "backend" => self.backend, "to" => to.as_str())
            .increment(1);
        match to {
            BreakerState::Open => tracing::warn!(
                backend = self.backend,
                from = from.as_str(),
                to = to.as_str(),
                open_ms = self.settings.open_ms,
                "circuit breaker opened: calls to {} fail fast",
                self.backend
            ),
            _ => tracing::info!(
                backend = self.backend,
                from = from.as_str(),
                to = to.as_str(),
                "circuit breaker {}",
                to.as_str()
            ),
        }
    }
}

/// One call let through by a breaker. Report how it went with [`BreakerPermit::success`] or
/// [`BreakerPermit::failure`]; dropping it unreported counts as neither.
#[derive(Debug)]
pub struct BreakerPermit<'a> {
    breaker: &'a CircuitBreaker,
    epoch: u64,
    settled: bool,
}

impl BreakerPermit<'_> {
    pub fn success(self) {
        self.settle(true, Instant::now());
    }

    pub fn failure(self) {
        self.settle(false, Instant::now());
    }

    pub fn settle(mut self, success: bool, now: Instant) {
        self.settled = true;
        self.breaker.record(self.epoch, success, now);
    }
}

impl Drop for BreakerPermit<'_> {
    fn drop(&mut self) {
        if !self.settled {
            self.breaker.release(self.epoch);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn breaker() -> CircuitBreaker {
        CircuitBreaker::new("test", &BreakerSettings::default())
    }

    fn fail(b: &CircuitBreaker, now: Instant) {
        b.try_acquire_at(now).unwrap().settle(false, now);
    }

    fn succeed(b: &CircuitBreaker, now: Instant) {
        b.try_acquire_at(now).unwrap().settle(true, now);
    }

    #[test]
    fn opens_after_five_consecutive_failures_and_a_success_resets_the_count() {
        let b = breaker();
        let t = Instant::now();
        for _ in 0..4 {
            fail(&b, t);
        }
        succeed(&b, t);
        for _ in 0..4 {
            fail(&b, t);
        }
        assert_eq!(b.state_at(t), BreakerState::Closed);
        fail(&b, t);
        assert_eq!(b.state_at(t), BreakerState::Open);
        let rejected = b.try_acquire_at(t + Duration::from_secs(10)).unwrap_err();
        assert_eq!(rejected.retry_after, Duration::from_secs(20));
        assert_eq!(rejected.failures, 5);
    }

    #[test]
    fn half_open_after_the_open_time_admits_three_trials_and_two_successes_close_it() {
        let b = breaker();
        let t = Instant::now();
        for _ in 0..5 {
            fail(&b, t);
        }
        let later = t + Duration::from_secs(30);
        assert_eq!(b.state_at(later), BreakerState::HalfOpen);
        let trials: Vec<_> = (0..3).map(|_| b.try_acquire_at(later).unwrap()).collect();
        assert!(
            b.try_acquire_at(later).is_err(),
            "a fourth trial is rejected"
        );
        let mut trials = trials.into_iter();
        trials.next().unwrap().settle(true, later);
        assert_eq!(b.state_at(later), BreakerState::HalfOpen);
        trials.next().unwrap().settle(true, later);
        assert_eq!(b.state_at(later), BreakerState::Closed);
        // The third trial's late failure belongs to the half-open epoch: it is ignored.
        trials.next().unwrap().settle(false, later);
        assert_eq!(b.state_at(later), BreakerState::Closed);
    }

    #[test]
    fn a_failed_trial_opens_it_again_for_the_full_time() {
        let b = breaker();
        let t = Instant::now();
        for _ in 0..5 {
            fail(&b, t);
        }
        let later = t + Duration::from_secs(31);
        fail(&b, later);
        assert_eq!(b.state_at(later), BreakerState::Open);
        let rejected = b
            .try_acquire_at(later + Duration::from_secs(1))
            .unwrap_err();
        assert_eq!(rejected.retry_after, Duration::from_secs(29));
    }

    #[test]
    fn abandoned_trials_free_their_slot() {
        let b = breaker();
        let t = Instant::now();
        for _ in 0..5 {
            fail(&b, t);
        }
        let later = t + Duration::from_secs(30);
        for _ in 0..10 {
            drop(b.try_acquire_at(later).unwrap());
        }
        succeed(&b, later);
        succeed(&b, later);
        assert_eq!(b.state_at(later), BreakerState::Closed);
    }

    #[test]
    fn outcomes_of_calls_started_before_a_transition_are_ignored() {
        let b = breaker();
        let t = Instant::now();
        let slow = b.try_acquire_at(t).unwrap();
        for _ in 0..5 {
            fail(&b, t);
        }
        slow.settle(true, t);
        assert_eq!(b.state_at(t), BreakerState::Open);
    }
}
