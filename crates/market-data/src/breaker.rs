//! A circuit breaker: stop calling a provider that keeps failing, and try again carefully.
//!
//! ```text
//!   closed ──(N consecutive failures)──▶ open ──(cool-down elapsed)──▶ half-open
//!     ▲                                   ▲                               │ one probe call
//!     └────────────(probe succeeds)───────┼───────────────────────────────┤
//!                                         └────────(probe fails)──────────┘
//! ```
//!
//! - closed: every call goes through; a success resets the failure count.
//! - open: no call goes through until the cool-down has elapsed.
//! - half-open: exactly one call (the probe) goes through; the others are refused as if
//!   open. A probe that ends without an outcome (cancelled, or spent no call) frees the slot
//!   for the next caller.
//!
//! Outcomes of calls admitted while closed only count while still closed: a slow call that
//! fails after the breaker opened does not extend the cool-down, nor does a late success
//! close it. Time comes from the `Clock` port, so tests step through the cool-down exactly.
//! The state lives in this process: each instance protects itself (the call budget, in
//! Redis, is what instances share).

use brokerage_domain::Clock;
use chrono::{DateTime, Utc};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// What readiness reports and the metrics export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    Closed,
    /// The cool-down has elapsed: the next call is (or is being) the probe.
    HalfOpen,
    Open,
}

impl BreakerState {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::HalfOpen => "half_open",
            Self::Open => "open",
        }
    }

    /// The gauge value: 0 closed, 1 half-open, 2 open.
    pub fn as_gauge(&self) -> f64 {
        match self {
            Self::Closed => 0.0,
            Self::HalfOpen => 1.0,
            Self::Open => 2.0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerConfig {
    /// Consecutive failures that open the breaker (at least 1).
    pub failure_threshold: u32,
    /// How long the breaker stays open before a probe may go.
    pub cool_down: Duration,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self { failure_threshold: 5, cool_down: Duration::from_secs(30) }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Inner {
    Closed { failures: u32 },
    Open { until: DateTime<Utc> },
    HalfOpen { probing: bool },
}

/// The call was refused: the breaker is open (or half-open with its probe in flight).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused;

pub struct CircuitBreaker {
    config: BreakerConfig,
    clock: Arc<dyn Clock>,
    inner: Mutex<Inner>,
}

impl CircuitBreaker {
    pub fn new(config: BreakerConfig, clock: Arc<dyn Clock>) -> Self {
        let config = BreakerConfig { failure_threshold: config.failure_threshold.max(1), ..config };
        Self { config, clock, inner: Mutex::new(Inner::Closed { failures: 0 }) }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // The state is a plain value, always consistent: a panic elsewhere cannot corrupt it.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The current state; cheap and non-blocking (sampled by `/metrics` and readiness).
    pub fn state(&self) -> BreakerState {
        match *self.lock() {
            Inner::Closed { .. } => BreakerState::Closed,
            Inner::HalfOpen { .. } => BreakerState::HalfOpen,
            Inner::Open { until } if self.clock.now() >= until => BreakerState::HalfOpen,
            Inner::Open { .. } => BreakerState::Open,
        }
    }

    /// Asks to make one call. The permit reports how the call went; dropped without a
    /// report, it counts for nothing.
    pub fn try_acquire(&self) -> Result<Permit<'_>, Refused> {
        let mut inner = self.lock();
        let probe = match *inner {
            Inner::Closed { .. } => false,
            Inner::Open { until } if self.clock.now() < until => return Err(Refused),
            Inner::Open { .. } | Inner::HalfOpen { probing: false } => {
                *inner = Inner::HalfOpen { probing: true };
                true
            }
            Inner::HalfOpen { probing: true } => return Err(Refused),
        };
        Ok(Permit { breaker: self, probe, reported: false })
    }

    fn open(&self, inner: &mut Inner) {
        let cool_down = chrono::Duration::from_std(self.config.cool_down).unwrap_or(chrono::Duration::MAX);
        let until = self.clock.now().checked_add_signed(cool_down).unwrap_or(DateTime::<Utc>::MAX_UTC);
        *inner = Inner::Open { until };
        tracing::warn!(
            market_data.breaker = "open",
            cool_down_s = self.config.cool_down.as_secs(),
            "market-data circuit breaker opened"
        );
    }

    fn report(&self, probe: bool, outcome: Outcome) {
        let mut inner = self.lock();
        match (*inner, probe, outcome) {
            (Inner::HalfOpen { probing: true }, true, Outcome::Success) => {
                *inner = Inner::Closed { failures: 0 };
                tracing::info!(
                    market_data.breaker = "closed",
                    "market-data circuit breaker closed: the probe succeeded"
                );
            }
            (Inner::HalfOpen { probing: true }, true, Outcome::Failure) => self.open(&mut inner),
            (Inner::HalfOpen { probing: true }, true, Outcome::Nothing) => *inner = Inner::HalfOpen { probing: false },
            (Inner::Closed { .. }, false, Outcome::Success) => *inner = Inner::Closed { failures: 0 },
            (Inner::Closed { failures }, false, Outcome::Failure) => {
                let failures = failures.saturating_add(1);
                if failures >= self.config.failure_threshold {
                    self.open(&mut inner);
                } else {
                    *inner = Inner::Closed { failures };
                }
            }
            // A call admitted in another state, or nothing to count.
            _ => {}
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Success,
    Failure,
    Nothing,
}

/// Leave to make one call.
pub struct Permit<'a> {
    breaker: &'a CircuitBreaker,
    probe: bool,
    reported: bool,
}

impl Permit<'_> {
    /// Whether this call is the half-open probe.
    pub fn is_probe(&self) -> bool {
        self.probe
    }

    /// The provider answered (possibly "no such symbol"): it is healthy.
    pub fn success(mut self) {
        self.finish(Outcome::Success);
    }

    /// The provider failed or pushed back.
    pub fn failure(mut self) {
        self.finish(Outcome::Failure);
    }

    /// No call was made after all (e.g. the call budget was spent): counts for nothing.
    pub fn release(mut self) {
        self.finish(Outcome::Nothing);
    }

    fn finish(&mut self, outcome: Outcome) {
        if !self.reported {
            self.reported = true;
            self.breaker.report(self.probe, outcome);
        }
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        self.finish(Outcome::Nothing);
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::sync::atomic::{AtomicI64, Ordering};

    /// A clock the test moves by hand.
    pub(crate) struct ManualClock(AtomicI64);

    impl ManualClock {
        pub(crate) fn new() -> Arc<Self> {
            Arc::new(Self(AtomicI64::new(1_700_000_000_000)))
        }

        pub(crate) fn advance(&self, by: Duration) {
            self.0.fetch_add(i64::try_from(by.as_millis()).expect("small"), Ordering::SeqCst);
        }
    }

    impl Clock for ManualClock {
        fn now(&self) -> DateTime<Utc> {
            DateTime::from_timestamp_millis(self.0.load(Ordering::SeqCst)).expect("in range")
        }
    }

    fn breaker(clock: &Arc<ManualClock>) -> CircuitBreaker {
        CircuitBreaker::new(BreakerConfig { failure_threshold: 3, cool_down: Duration::from_secs(30) }, clock.clone())
    }

    #[test]
    fn it_opens_after_n_consecutive_failures_and_a_success_resets_the_count() {
        let clock = ManualClock::new();
        let b = breaker(&clock);
        for _ in 0..2 {
            b.try_acquire().expect("closed").failure();
        }
        b.try_acquire().expect("closed").success();
        for _ in 0..2 {
            b.try_acquire().expect("closed").failure();
        }
        assert_eq!(b.state(), BreakerState::Closed, "the success reset the count");
        b.try_acquire().expect("closed").failure();
        assert_eq!(b.state(), BreakerState::Open);
        assert_eq!(b.try_acquire().err(), Some(Refused));
    }

    #[test]
    fn after_the_cool_down_one_probe_goes_and_its_success_closes_the_breaker() {
        let clock = ManualClock::new();
        let b = breaker(&clock);
        for _ in 0..3 {
            b.try_acquire().expect("closed").failure();
        }
        clock.advance(Duration::from_secs(29));
        assert!(b.try_acquire().is_err(), "still cooling down");
        clock.advance(Duration::from_secs(1));
        assert_eq!(b.state(), BreakerState::HalfOpen);
        let probe = b.try_acquire().expect("the probe");
        assert!(probe.is_probe());
        assert!(b.try_acquire().is_err(), "only one probe at a time");
        probe.success();
        assert_eq!(b.state(), BreakerState::Closed);
        assert!(!b.try_acquire().expect("closed").is_probe());
    }

    #[test]
    fn a_failed_probe_opens_the_breaker_for_another_cool_down() {
        let clock = ManualClock::new();
        let b = breaker(&clock);
        for _ in 0..3 {
            b.try_acquire().expect("closed").failure();
        }
        clock.advance(Duration::from_secs(30));
        b.try_acquire().expect("the probe").failure();
        assert_eq!(b.state(), BreakerState::Open);
        clock.advance(Duration::from_secs(29));
        assert!(b.try_acquire().is_err());
        clock.advance(Duration::from_secs(1));
        assert!(b.try_acquire().expect("the next probe").is_probe());
    }

    #[test]
    fn a_probe_that_made_no_call_frees_the_slot() {
        let clock = ManualClock::new();
        let b = breaker(&clock);
        for _ in 0..3 {
            b.try_acquire().expect("closed").failure();
        }
        clock.advance(Duration::from_secs(30));
        b.try_acquire().expect("the probe").release();
        drop(b.try_acquire().expect("the slot is free again"));
        let probe = b.try_acquire().expect("dropped permits free it too");
        assert!(probe.is_probe());
    }

    #[test]
    fn late_outcomes_of_calls_admitted_while_closed_do_not_move_an_open_breaker() {
        let clock = ManualClock::new();
        let b = breaker(&clock);
        let slow = b.try_acquire().expect("closed");
        for _ in 0..3 {
            b.try_acquire().expect("closed").failure();
        }
        slow.success();
        assert_eq!(b.state(), BreakerState::Open, "a late success does not close it");
    }

    #[test]
    fn states_have_names_and_gauge_values() {
        let names: Vec<_> = [BreakerState::Closed, BreakerState::HalfOpen, BreakerState::Open]
            .iter()
            .map(|s| (s.as_str(), s.as_gauge()))
            .collect();
        assert_eq!(names, [("closed", 0.0), ("half_open", 1.0), ("open", 2.0)]);
    }
}
