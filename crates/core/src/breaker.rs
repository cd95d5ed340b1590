//! The one circuit breaker of ragmesh, so a dependency that is down or stalled costs callers
//! nothing but a fast error instead of a timeout each. Two users run it with their own
//! [`BreakerPolicy`]: the gateway's gRPC clients (one per backend, `ragmesh-rpc`, thresholds
//! from `rpc.breaker`) and the answer cache's Redis tier (`ragmesh-cache`, fixed thresholds).
//!
//! Closed: calls pass; `failure_threshold` consecutive failures open it. Open: calls are
//! rejected at once (with how long until the next try) for `open_ms`. Half-open: up to
//! `half_open_max_calls` trial calls pass; `close_after_successes` successes close it, any
//! failure opens it again for the full time. A call is admitted with a [`BreakerPermit`]; one
//! dropped without an outcome (its caller went away) frees its trial slot, so a cancelled trial
//! cannot keep the breaker half-open forever. What happens to outcomes of calls admitted before
//! the last transition is the policy's [`LateOutcomes`].
//!
//! The breaker only keeps state; what a transition means to the world (logs, metrics) is the
//! user's [`TransitionReport`].

use parking_lot::Mutex;
use serde::Serialize;
use std::time::{Duration, Instant};

/// How long a caller is told to wait when half-open trial slots are all taken.
const HALF_OPEN_RETRY_AFTER: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
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

    /// The value of a `*_breaker_state` gauge: 0 closed, 1 half-open, 2 open.
    pub fn gauge_value(self) -> f64 {
        match self {
            BreakerState::Closed => 0.0,
            BreakerState::HalfOpen => 1.0,
            BreakerState::Open => 2.0,
        }
    }
}

/// What to do with the outcome of a call admitted before the breaker's last transition (a
/// slow call that started while closed and ends after the breaker opened).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LateOutcomes {
    /// It has no say: a slow success cannot close a breaker that has since opened.
    Ignored,
    /// It counts like any other: a late success closes the breaker, a late failure while open
    /// starts the open time again.
    Counted,
}

/// When a breaker opens and closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerPolicy {
    /// Consecutive failures that open the breaker.
    pub failure_threshold: u32,
    /// How long an open breaker rejects calls before letting trial calls through, ms.
    pub open_ms: u64,
    /// Most calls let through while half-open; others are rejected like when open.
    pub half_open_max_calls: u32,
    /// Successful trial calls that close a half-open breaker.
    pub close_after_successes: u32,
    pub late_outcomes: LateOutcomes,
}

/// Told of every state change (a breaker's logs and metrics live here, not in the breaker).
pub trait TransitionReport: Send + Sync + std::fmt::Debug {
    fn transition(
        &self,
        name: &'static str,
        from: BreakerState,
        to: BreakerState,
        policy: &BreakerPolicy,
    );
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
    /// Bumped on every transition; tells late outcomes from current ones.
    epoch: u64,
}

#[derive(Debug)]
pub struct CircuitBreaker {
    name: &'static str,
    policy: BreakerPolicy,
    report: Box<dyn TransitionReport>,
    inner: Mutex<Inner>,
}

impl CircuitBreaker {
    /// A closed breaker called `name` (what it guards, e.g. a backend), running `policy` and
    /// telling `report` of every transition.
    pub fn new(
        name: &'static str,
        policy: BreakerPolicy,
        report: impl TransitionReport + 'static,
    ) -> CircuitBreaker {
        CircuitBreaker {
            name,
            policy,
            report: Box::new(report),
            inner: Mutex::new(Inner {
                state: State::Closed { failures: 0 },
                epoch: 0,
            }),
        }
    }

    /// What the breaker guards (the backend, for the gateway's breakers).
    pub fn backend(&self) -> &'static str {
        self.name
    }

    pub fn policy(&self) -> &BreakerPolicy {
        &self.policy
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
                if admitted >= self.policy.half_open_max_calls {
                    return Err(Rejected {
                        retry_after: HALF_OPEN_RETRY_AFTER,
                        failures: self.policy.failure_threshold,
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
        if inner.epoch != epoch && self.policy.late_outcomes == LateOutcomes::Ignored {
            return;
        }
        let threshold = self.policy.failure_threshold;
        let open = |failures| State::Open {
            until: now + Duration::from_millis(self.policy.open_ms),
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
                if successes + 1 >= self.policy.close_after_successes {
                    self.transition(&mut inner, State::Closed { failures: 0 });
                } else {
                    inner.state = State::HalfOpen {
                        admitted,
                        successes: successes + 1,
                    };
                }
            }
            (State::HalfOpen { .. }, false) => self.transition(&mut inner, open(threshold)),
            // Only a late outcome (LateOutcomes::Counted) reaches an open breaker.
            (State::Open { .. }, true) => {
                self.transition(&mut inner, State::Closed { failures: 0 })
            }
            (State::Open { failures, .. }, false) => inner.state = open(failures),
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
        self.report
            .transition(self.name, from, to.kind(), &self.policy);
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
    use parking_lot::Mutex as PlMutex;
    use std::sync::Arc;

    /// Records transitions, to check what a report is told.
    #[derive(Debug, Default, Clone)]
    struct Log(Arc<PlMutex<Vec<(BreakerState, BreakerState)>>>);

    impl TransitionReport for Log {
        fn transition(
            &self,
            _: &'static str,
            from: BreakerState,
            to: BreakerState,
            _: &BreakerPolicy,
        ) {
            self.0.lock().push((from, to));
        }
    }

    fn policy(late_outcomes: LateOutcomes) -> BreakerPolicy {
        BreakerPolicy {
            failure_threshold: 2,
            open_ms: 1_000,
            half_open_max_calls: 1,
            close_after_successes: 1,
            late_outcomes,
        }
    }

    #[test]
    fn the_report_hears_every_transition_in_order() {
        let log = Log::default();
        let b = CircuitBreaker::new("t", policy(LateOutcomes::Ignored), log.clone());
        let t = Instant::now();
        for _ in 0..2 {
            b.try_acquire_at(t).unwrap().settle(false, t);
        }
        let later = t + Duration::from_millis(1_000);
        b.try_acquire_at(later).unwrap().settle(true, later);
        use BreakerState::*;
        assert_eq!(
            *log.0.lock(),
            [(Closed, Open), (Open, HalfOpen), (HalfOpen, Closed)]
        );
    }

    #[test]
    fn late_outcomes_are_ignored_or_counted_as_the_policy_says() {
        let t = Instant::now();
        for (late, closes) in [
            (LateOutcomes::Ignored, false),
            (LateOutcomes::Counted, true),
        ] {
            let b = CircuitBreaker::new("t", policy(late), Log::default());
            let slow = b.try_acquire_at(t).unwrap();
            for _ in 0..2 {
                b.try_acquire_at(t).unwrap().settle(false, t);
            }
            slow.settle(true, t);
            let expected = if closes {
                BreakerState::Closed
            } else {
                BreakerState::Open
            };
            assert_eq!(b.state_at(t), expected, "{late:?}");
        }
    }

    #[test]
    fn a_counted_late_failure_starts_the_open_time_again() {
        let b = CircuitBreaker::new("t", policy(LateOutcomes::Counted), Log::default());
        let t = Instant::now();
        let slow = b.try_acquire_at(t).unwrap();
        for _ in 0..2 {
            b.try_acquire_at(t).unwrap().settle(false, t);
        }
        let later = t + Duration::from_millis(600);
        slow.settle(false, later);
        let rejected = b
            .try_acquire_at(t + Duration::from_millis(1_000))
            .unwrap_err();
        assert_eq!(rejected.retry_after, Duration::from_millis(600));
    }
}
