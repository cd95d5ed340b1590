//! The breaker around L2. Redis commands already have a short deadline, but paying that
//! deadline on every request during an outage would add it to every query; after
//! [`FAILURES_TO_OPEN`] consecutive failures L2 is skipped entirely for [`OPEN_FOR_MS`], then
//! one trial command is let through (half-open) and a success closes the breaker again.
//!
//! The state machine is ragmesh-core's [`CircuitBreaker`] (the one the gateway's backends use);
//! this module gives it the Redis policy and the two log lines an operator sees. Every outcome
//! counts, also of a command sent before the breaker last changed state (a late success closes
//! it, a late failure while open starts the open time again), as this breaker always did.

use ragmesh_core::breaker::{BreakerPolicy, CircuitBreaker, LateOutcomes, TransitionReport};

pub use ragmesh_core::breaker::BreakerState;

pub const FAILURES_TO_OPEN: u32 = 3;
pub const OPEN_FOR_MS: u64 = 1_000;

/// The policy of the Redis breaker: one trial at a time, one success closes it.
pub const REDIS_POLICY: BreakerPolicy = BreakerPolicy {
    failure_threshold: FAILURES_TO_OPEN,
    open_ms: OPEN_FOR_MS,
    half_open_max_calls: 1,
    close_after_successes: 1,
    late_outcomes: LateOutcomes::Counted,
};

/// A closed breaker for the L2 tier.
pub fn redis_breaker() -> CircuitBreaker {
    CircuitBreaker::new("cache_l2", REDIS_POLICY, RedisReport)
}

/// Says when L2 is skipped and when it answers again (no metric: `ragmesh_cache_l2_up` and
/// `/api/cache/stats` show the tier).
#[derive(Debug)]
struct RedisReport;

impl TransitionReport for RedisReport {
    fn transition(
        &self,
        _name: &'static str,
        from: BreakerState,
        to: BreakerState,
        _policy: &BreakerPolicy,
    ) {
        match (from, to) {
            (BreakerState::Closed, BreakerState::Open) => {
                tracing::warn!("cache L2 (Redis) failing: breaker open, serving from L1 only")
            }
            (_, BreakerState::Closed) => {
                tracing::info!("cache L2 (Redis) answers again: breaker closed")
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn failure(breaker: &CircuitBreaker, now: Instant) {
        breaker.try_acquire_at(now).unwrap().settle(false, now);
    }

    #[test]
    fn opens_after_consecutive_failures_and_closes_after_a_good_trial() {
        let mut now = Instant::now();
        let breaker = redis_breaker();
        failure(&breaker, now);
        failure(&breaker, now);
        let permit = breaker.try_acquire_at(now);
        assert!(permit.is_ok());
        permit.unwrap().settle(true, now);
        for _ in 0..FAILURES_TO_OPEN {
            failure(&breaker, now);
        }
        assert_eq!(breaker.state_at(now), BreakerState::Open);
        assert!(breaker.try_acquire_at(now).is_err());
        now += Duration::from_millis(OPEN_FOR_MS);
        assert_eq!(breaker.state_at(now), BreakerState::HalfOpen);
        let trial = breaker.try_acquire_at(now);
        assert!(trial.is_ok(), "one trial");
        assert!(
            breaker.try_acquire_at(now).is_err(),
            "only one trial at a time"
        );
        trial.unwrap().settle(false, now);
        assert_eq!(
            breaker.state_at(now),
            BreakerState::Open,
            "a failed trial reopens"
        );
        now += Duration::from_millis(OPEN_FOR_MS);
        let trial = breaker.try_acquire_at(now);
        assert!(trial.is_ok());
        trial.unwrap().settle(true, now);
        assert_eq!(breaker.state_at(now), BreakerState::Closed);
    }

    /// A trial whose command was cancelled (the request went away) frees its slot: before the
    /// breakers were one, such a trial kept L2 skipped until the process restarted.
    #[test]
    fn a_cancelled_trial_lets_the_next_one_through() {
        let now = Instant::now();
        let breaker = redis_breaker();
        for _ in 0..FAILURES_TO_OPEN {
            failure(&breaker, now);
        }
        let later = now + Duration::from_millis(OPEN_FOR_MS);
        drop(breaker.try_acquire_at(later).unwrap());
        assert!(breaker.try_acquire_at(later).is_ok());
    }
}
