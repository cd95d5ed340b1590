//! The breaker around L2. Redis commands already have a short deadline, but paying that
//! deadline on every request during an outage would add it to every query; after
//! [`FAILURES_TO_OPEN`] consecutive failures L2 is skipped entirely for [`OPEN_FOR_MS`], then
//! one trial command is let through (half-open) and a success closes the breaker again.

use crate::clock::Clock;
use parking_lot::Mutex;
use serde::Serialize;

pub const FAILURES_TO_OPEN: u32 = 3;
pub const OPEN_FOR_MS: u64 = 1_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakerState {
    Closed,
    Open,
    HalfOpen,
}

impl BreakerState {
    pub fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half_open",
        }
    }
}

#[derive(Debug)]
struct Inner {
    failures: u32,
    opened_at_ms: Option<u64>,
    trial_in_flight: bool,
}

#[derive(Debug)]
pub struct Breaker {
    inner: Mutex<Inner>,
    clock: Clock,
}

impl Breaker {
    pub fn new(clock: Clock) -> Breaker {
        Breaker {
            inner: Mutex::new(Inner {
                failures: 0,
                opened_at_ms: None,
                trial_in_flight: false,
            }),
            clock,
        }
    }

    pub fn state(&self) -> BreakerState {
        let inner = self.inner.lock();
        match inner.opened_at_ms {
            None => BreakerState::Closed,
            Some(at) if self.clock.now_ms() < at + OPEN_FOR_MS => BreakerState::Open,
            Some(_) => BreakerState::HalfOpen,
        }
    }

    /// Whether a command may be sent now (while half-open, only one at a time).
    pub fn allow(&self) -> bool {
        let mut inner = self.inner.lock();
        match inner.opened_at_ms {
            None => true,
            Some(at) if self.clock.now_ms() < at + OPEN_FOR_MS => false,
            Some(_) if inner.trial_in_flight => false,
            Some(_) => {
                inner.trial_in_flight = true;
                true
            }
        }
    }

    pub fn success(&self) {
        let mut inner = self.inner.lock();
        if inner.opened_at_ms.is_some() {
            tracing::info!("cache L2 (Redis) answers again: breaker closed");
        }
        inner.failures = 0;
        inner.opened_at_ms = None;
        inner.trial_in_flight = false;
    }

    pub fn failure(&self) {
        let mut inner = self.inner.lock();
        inner.failures += 1;
        inner.trial_in_flight = false;
        if inner.opened_at_ms.is_some() || inner.failures >= FAILURES_TO_OPEN {
            if inner.opened_at_ms.is_none() {
                tracing::warn!("cache L2 (Redis) failing: breaker open, serving from L1 only");
            }
            inner.opened_at_ms = Some(self.clock.now_ms());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_consecutive_failures_and_closes_after_a_good_trial() {
        let clock = Clock::manual(0);
        let breaker = Breaker::new(clock.clone());
        breaker.failure();
        breaker.failure();
        assert!(breaker.allow());
        breaker.success();
        for _ in 0..FAILURES_TO_OPEN {
            breaker.failure();
        }
        assert_eq!(breaker.state(), BreakerState::Open);
        assert!(!breaker.allow());
        clock.advance_ms(OPEN_FOR_MS);
        assert_eq!(breaker.state(), BreakerState::HalfOpen);
        assert!(breaker.allow(), "one trial");
        assert!(!breaker.allow(), "only one trial at a time");
        breaker.failure();
        assert_eq!(
            breaker.state(),
            BreakerState::Open,
            "a failed trial reopens"
        );
        clock.advance_ms(OPEN_FOR_MS);
        assert!(breaker.allow());
        breaker.success();
        assert_eq!(breaker.state(), BreakerState::Closed);
    }
}
