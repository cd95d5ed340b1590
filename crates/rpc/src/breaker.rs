//! The gateway's circuit breaker per backend, so a backend that is down or stalled costs
//! callers nothing but a fast error instead of a connect timeout or a deadline each. The state
//! machine is ragmesh-core's [`CircuitBreaker`]; this module gives it the backend policy (from
//! `rpc.breaker`: `failure_threshold`, `open_ms`, `half_open_max_calls`,
//! `close_after_successes`; outcomes of calls admitted before the last transition are ignored,
//! so a slow call that started while closed cannot close a breaker that has since opened) and
//! the backend report: every transition is logged and exported as
//! `ragmesh_breaker_state{backend}` (0 closed, 1 half-open, 2 open) and
//! `ragmesh_breaker_transitions_total{backend,to}`.

use ragmesh_config::BreakerSettings;
use ragmesh_core::breaker::{
    BreakerPolicy, BreakerState, CircuitBreaker, LateOutcomes, TransitionReport,
};

/// The policy of a backend's breaker, from `rpc.breaker`.
pub fn backend_policy(settings: &BreakerSettings) -> BreakerPolicy {
    BreakerPolicy {
        failure_threshold: settings.failure_threshold,
        open_ms: settings.open_ms,
        half_open_max_calls: settings.half_open_max_calls,
        close_after_successes: settings.close_after_successes,
        late_outcomes: LateOutcomes::Ignored,
    }
}

/// A closed breaker for `backend`; its state gauge exists (at closed) from now on.
pub fn backend_breaker(backend: &'static str, settings: &BreakerSettings) -> CircuitBreaker {
    metrics::gauge!("ragmesh_breaker_state", "backend" => backend)
        .set(BreakerState::Closed.gauge_value());
    CircuitBreaker::new(backend, backend_policy(settings), BackendReport)
}

/// Logs and metrics of a backend's breaker transitions.
#[derive(Debug)]
struct BackendReport;

impl TransitionReport for BackendReport {
    fn transition(
        &self,
        name: &'static str,
        from: BreakerState,
        to: BreakerState,
        policy: &BreakerPolicy,
    ) {
        metrics::gauge!("ragmesh_breaker_state", "backend" => name).set(to.gauge_value());
        metrics::counter!("ragmesh_breaker_transitions_total", "backend" => name, "to" => to.as_str())
            .increment(1);
        match to {
            BreakerState::Open => tracing::warn!(
                backend = name,
                from = from.as_str(),
                to = to.as_str(),
                open_ms = policy.open_ms,
                "circuit breaker opened: calls to {} fail fast",
                name
            ),
            _ => tracing::info!(
                backend = name,
                from = from.as_str(),
                to = to.as_str(),
                "circuit breaker {}",
                to.as_str()
            ),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn breaker() -> CircuitBreaker {
        backend_breaker("test", &BreakerSettings::default())
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
