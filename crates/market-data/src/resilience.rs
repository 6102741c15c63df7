//! How every outbound market-data call is made: through the circuit breaker, within the
//! shared call budget, under a per-call timeout, retried with jittered backoff only when the
//! failure is transient.
//!
//! Each attempt is one call: it asks the breaker (so a breaker that opens mid-retries stops
//! them) and spends one unit of the budget.

use crate::breaker::CircuitBreaker;
use crate::error::MarketDataError;
use brokerage_domain::limits::RateLimiter;
use std::collections::hash_map::RandomState;
use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallPolicy {
    /// Per attempt, connection and body included.
    pub timeout: Duration,
    /// Attempts in all (1 = no retry).
    pub max_attempts: u32,
    /// The backoff before retry n is drawn from [b/2, b] with b = `backoff_base` × 2ⁿ⁻¹,
    /// capped at `backoff_max`.
    pub backoff_base: Duration,
    pub backoff_max: Duration,
}

impl Default for CallPolicy {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(5),
            max_attempts: 3,
            backoff_base: Duration::from_millis(200),
            backoff_max: Duration::from_secs(2),
        }
    }
}

impl CallPolicy {
    /// The longest a call can take, every attempt and backoff included: how long a
    /// cross-instance fetch lock must live.
    pub fn worst_case(&self) -> Duration {
        let attempts = self.max_attempts.max(1);
        let backoffs = (1..attempts).map(|n| self.ceiling(n)).sum::<Duration>();
        self.timeout.saturating_mul(attempts).saturating_add(backoffs)
    }

    fn ceiling(&self, retry: u32) -> Duration {
        let factor = 1u32.checked_shl(retry.saturating_sub(1)).unwrap_or(u32::MAX);
        self.backoff_base.saturating_mul(factor).min(self.backoff_max)
    }

    /// The backoff before retry `retry` (1-based), `unit` in [0, 1) choosing within the range.
    fn backoff(&self, retry: u32, unit: f64) -> Duration {
        let ceiling = self.ceiling(retry);
        ceiling.mul_f64(0.5 + unit.clamp(0.0, 1.0) / 2.0)
    }
}

/// The provider's call allowance, shared by every instance: `per_minute` calls per fixed
/// one-minute window, counted by a [`RateLimiter`] (Redis in production: INCR + PEXPIRE in
/// one script). A spent budget is reported as `Throttled` without calling.
pub struct CallBudget {
    limiter: Arc<dyn RateLimiter>,
    key: String,
    per_minute: u32,
}

impl CallBudget {
    /// `key` names the counter (e.g. `market-data:alpha_vantage`).
    pub fn new(limiter: Arc<dyn RateLimiter>, key: impl Into<String>, per_minute: u32) -> Self {
        Self { limiter, key: key.into(), per_minute }
    }

    /// Spends one call. When the counter cannot be reached the call goes ahead (fail open):
    /// the provider enforces its own limit, and the breaker backs off if it pushes back.
    async fn spend(&self) -> Result<(), MarketDataError> {
        match self.limiter.check(&self.key, self.per_minute, Duration::from_secs(60)).await {
            Ok(d) if d.allowed => Ok(()),
            Ok(d) => Err(MarketDataError::Throttled(format!(
                "outbound call budget of {} per minute spent; resets in {} s",
                self.per_minute,
                d.reset_after_secs()
            ))),
            Err(e) => {
                tracing::warn!(error = %e, "market-data call budget unreadable; calling anyway");
                Ok(())
            }
        }
    }
}

/// Runs calls under the breaker, the budget, the timeout and the retry policy.
pub struct Resilient {
    breaker: Arc<CircuitBreaker>,
    policy: CallPolicy,
    budget: Option<CallBudget>,
    jitter: Jitter,
}

impl Resilient {
    pub fn new(breaker: Arc<CircuitBreaker>, policy: CallPolicy, budget: Option<CallBudget>) -> Self {
        Self { breaker, policy, budget, jitter: Jitter::new() }
    }

    pub fn breaker(&self) -> &Arc<CircuitBreaker> {
        &self.breaker
    }

    pub fn policy(&self) -> &CallPolicy {
        &self.policy
    }

    /// Runs `attempt` until it succeeds, fails for good, or the attempts are spent.
    pub async fn call<T, F, Fut>(&self, mut attempt: F) -> Result<T, MarketDataError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, MarketDataError>>,
    {
        let mut tried = 0;
        let mut last = None;
        loop {
            tried += 1;
            // A breaker that opened during the retries stops them; the caller learns why.
            let Ok(permit) = self.breaker.try_acquire() else {
                return Err(last.unwrap_or(MarketDataError::CircuitOpen));
            };
            if let Some(budget) = &self.budget {
                // Nothing was called: the permit counts for nothing (a probe stays available).
                budget.spend().await?;
            }
            let outcome = match tokio::time::timeout(self.policy.timeout, attempt()).await {
                Ok(outcome) => outcome,
                Err(_) => Err(MarketDataError::Timeout(self.policy.timeout)),
            };
            match outcome {
                Ok(value) => {
                    permit.success();
                    return Ok(value);
                }
                Err(e) => {
                    if e.is_failure() {
                        permit.failure()
                    } else {
                        permit.success()
                    }
                    if !e.is_retryable() || tried >= self.policy.max_attempts {
                        return Err(e);
                    }
                    let pause = self.policy.backoff(tried, self.jitter.unit());
                    tracing::debug!(error = %e, attempt = tried, backoff_ms = pause.as_millis(), "market-data call failed; retrying");
                    tokio::time::sleep(pause).await;
                    last = Some(e);
                }
            }
        }
    }
}

/// A cheap, non-cryptographic source of jitter (SplitMix64 seeded from the standard
/// library's per-process random hasher keys): backoffs only need to differ between calls
/// and instances.
struct Jitter(AtomicU64);

impl Jitter {
    fn new() -> Self {
        Self(AtomicU64::new(RandomState::new().build_hasher().finish()))
    }

    /// A number in [0, 1).
    fn unit(&self) -> f64 {
        let mut x = self.0.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed).wrapping_add(0x9E37_79B9_7F4A_7C15);
        x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        x ^= x >> 31;
        // The top 53 bits, as a fraction: exactly representable.
        (x >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::breaker::tests::ManualClock;
    use crate::breaker::{BreakerConfig, BreakerState};
    use brokerage_domain::InfraError;
    use brokerage_domain::limits::{Decision, MockRateLimiter};
    use std::sync::atomic::AtomicUsize;

    fn policy() -> CallPolicy {
        CallPolicy {
            timeout: Duration::from_millis(50),
            max_attempts: 3,
            backoff_base: Duration::from_millis(1),
            backoff_max: Duration::from_millis(4),
        }
    }

    fn resilient(clock: &Arc<ManualClock>, budget: Option<CallBudget>) -> Resilient {
        let breaker = CircuitBreaker::new(
            BreakerConfig { failure_threshold: 3, cool_down: Duration::from_secs(30) },
            clock.clone(),
        );
        Resilient::new(Arc::new(breaker), policy(), budget)
    }

    /// Calls `r` once with an attempt that counts itself and answers `answer`.
    async fn run(
        r: &Resilient,
        calls: &AtomicUsize,
        answer: Result<u32, MarketDataError>,
    ) -> Result<u32, MarketDataError> {
        r.call(|| {
            calls.fetch_add(1, Ordering::SeqCst);
            let answer = answer.clone();
            async move { answer }
        })
        .await
    }

    #[tokio::test]
    async fn transient_failures_are_retried_up_to_the_attempt_limit_others_are_not() {
        let clock = ManualClock::new();
        let calls = AtomicUsize::new(0);
        let r = resilient(&clock, None);
        assert_eq!(run(&r, &calls, Err(MarketDataError::Status(500))).await, Err(MarketDataError::Status(500)));
        assert_eq!(calls.swap(0, Ordering::SeqCst), 3);

        let r = resilient(&clock, None);
        for once in [
            MarketDataError::Throttled("Note".into()),
            MarketDataError::UnknownSymbol,
            MarketDataError::Malformed("x".into()),
        ] {
            assert_eq!(run(&r, &calls, Err(once.clone())).await, Err(once));
            assert_eq!(calls.swap(0, Ordering::SeqCst), 1);
        }
    }

    #[tokio::test]
    async fn a_hung_attempt_times_out_and_a_later_attempt_can_succeed() {
        let clock = ManualClock::new();
        let r = resilient(&clock, None);
        let calls = AtomicUsize::new(0);
        let got = r
            .call(|| {
                let n = calls.fetch_add(1, Ordering::SeqCst);
                async move {
                    if n == 0 {
                        tokio::time::sleep(Duration::from_secs(10)).await;
                    }
                    Ok(n)
                }
            })
            .await;
        assert_eq!(got, Ok(1));
    }

    #[tokio::test]
    async fn after_n_failures_no_call_is_made_until_the_cool_down_then_one_probe_closes_it() {
        let clock = ManualClock::new();
        let r = resilient(&clock, None);
        let calls = AtomicUsize::new(0);
        // One call of three failed attempts opens the breaker (threshold 3).
        assert!(run(&r, &calls, Err(MarketDataError::Timeout(Duration::ZERO))).await.is_err());
        assert_eq!(calls.swap(0, Ordering::SeqCst), 3);
        assert_eq!(r.breaker().state(), BreakerState::Open);

        for _ in 0..5 {
            assert_eq!(run(&r, &calls, Ok(1)).await, Err(MarketDataError::CircuitOpen));
        }
        clock.advance(Duration::from_secs(29));
        assert_eq!(run(&r, &calls, Ok(1)).await, Err(MarketDataError::CircuitOpen));
        assert_eq!(calls.load(Ordering::SeqCst), 0, "no upstream call while open");

        clock.advance(Duration::from_secs(1));
        assert_eq!(r.breaker().state(), BreakerState::HalfOpen);
        assert_eq!(run(&r, &calls, Ok(7)).await, Ok(7));
        assert_eq!(calls.load(Ordering::SeqCst), 1, "exactly one probe");
        assert_eq!(r.breaker().state(), BreakerState::Closed);
    }

    #[tokio::test]
    async fn a_failing_probe_is_not_retried_and_reopens_the_breaker() {
        let clock = ManualClock::new();
        let r = resilient(&clock, None);
        let calls = AtomicUsize::new(0);
        assert!(run(&r, &calls, Err(MarketDataError::Status(503))).await.is_err());
        clock.advance(Duration::from_secs(30));
        calls.store(0, Ordering::SeqCst);
        assert_eq!(run(&r, &calls, Err(MarketDataError::Status(503))).await, Err(MarketDataError::Status(503)));
        assert_eq!(calls.load(Ordering::SeqCst), 1, "the probe failed; its retry met the open breaker");
        assert_eq!(r.breaker().state(), BreakerState::Open);
    }

    fn limiter(allowed: bool) -> MockRateLimiter {
        let mut l = MockRateLimiter::new();
        l.expect_check()
            .withf(|key, limit, window| key == "market-data:test" && *limit == 5 && *window == Duration::from_secs(60))
            .returning(move |_, limit, w| Ok(Decision::from_count(if allowed { 1 } else { 6 }, limit, w)));
        l
    }

    #[tokio::test]
    async fn a_spent_budget_is_throttled_without_calling_and_does_not_trip_the_breaker() {
        let clock = ManualClock::new();
        let r = resilient(&clock, Some(CallBudget::new(Arc::new(limiter(false)), "market-data:test", 5)));
        let calls = AtomicUsize::new(0);
        for _ in 0..5 {
            let err = run(&r, &calls, Ok(1)).await;
            assert!(matches!(&err, Err(MarketDataError::Throttled(m)) if m.contains("budget")), "{err:?}");
        }
        assert_eq!(calls.load(Ordering::SeqCst), 0);
        assert_eq!(r.breaker().state(), BreakerState::Closed);

        let r = resilient(&clock, Some(CallBudget::new(Arc::new(limiter(true)), "market-data:test", 5)));
        assert_eq!(run(&r, &calls, Ok(1)).await, Ok(1));
    }

    #[tokio::test]
    async fn an_unreachable_budget_counter_lets_the_call_through() {
        let clock = ManualClock::new();
        let mut l = MockRateLimiter::new();
        l.expect_check().returning(|_, _, _| Err(InfraError::Unavailable(anyhow::anyhow!("redis down"))));
        let r = resilient(&clock, Some(CallBudget::new(Arc::new(l), "k", 5)));
        assert_eq!(run(&r, &AtomicUsize::new(0), Ok(3)).await, Ok(3));
    }

    #[test]
    fn backoff_doubles_within_jittered_bounds_and_is_capped() {
        let p = CallPolicy {
            backoff_base: Duration::from_millis(100),
            backoff_max: Duration::from_millis(300),
            ..policy()
        };
        assert_eq!(p.backoff(1, 0.0), Duration::from_millis(50));
        assert_eq!(p.backoff(1, 1.0), Duration::from_millis(100));
        assert_eq!(p.backoff(2, 0.0), Duration::from_millis(100));
        assert_eq!(p.backoff(3, 1.0), Duration::from_millis(300), "capped");
        assert_eq!(p.worst_case(), Duration::from_millis(50 * 3 + 100 + 200));
        let j = Jitter::new();
        let draws: Vec<f64> = (0..100).map(|_| j.unit()).collect();
        assert!(draws.iter().all(|u| (0.0..1.0).contains(u)));
        assert!(draws.windows(2).any(|w| w[0] != w[1]));
    }
}
