//! An in-process [`RateLimiter`] (demo mode and tests): fixed windows in a map behind a mutex.
//! Each process counts on its own, so N instances allow N times the limit; production uses
//! the Redis adapter, shared by every instance.

use async_trait::async_trait;
use brokerage_domain::limits::{Decision, RateLimiter};
use brokerage_domain::{Clock, InfraError};
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Above this many keys, expired windows are swept on the next check, so the map stays
/// bounded by the number of keys active within one window.
const SWEEP_ABOVE: usize = 10_000;

struct Window {
    ends_at: DateTime<Utc>,
    count: u64,
}

/// Fixed-window counters in memory. Cheap to clone: clones share the counters.
#[derive(Clone)]
pub struct MemoryRateLimiter {
    clock: Arc<dyn Clock>,
    windows: Arc<Mutex<HashMap<String, Window>>>,
}

impl MemoryRateLimiter {
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self { clock, windows: Arc::new(Mutex::new(HashMap::new())) }
    }
}

#[async_trait]
impl RateLimiter for MemoryRateLimiter {
    async fn check(&self, key: &str, limit: u32, window: Duration) -> Result<Decision, InfraError> {
        let now = self.clock.now();
        let span = chrono::Duration::from_std(window)
            .map_err(|e| InfraError::Unknown(anyhow::anyhow!("rate-limit window out of range: {e}")))?;
        let mut windows = self.windows.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if windows.len() > SWEEP_ABOVE {
            windows.retain(|_, w| w.ends_at > now);
        }
        let entry = windows.entry(key.to_owned()).or_insert_with(|| Window { ends_at: now + span, count: 0 });
        if entry.ends_at <= now {
            *entry = Window { ends_at: now + span, count: 0 };
        }
        entry.count += 1;
        let left = (entry.ends_at - now).to_std().unwrap_or_default();
        Ok(Decision::from_count(entry.count, limit, left))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used)]
    use super::*;

    struct TestClock(Mutex<DateTime<Utc>>);

    impl TestClock {
        fn advance(&self, by: Duration) {
            let mut now = self.0.lock().expect("clock");
            *now += chrono::Duration::from_std(by).expect("small");
        }
    }

    impl Clock for TestClock {
        fn now(&self) -> DateTime<Utc> {
            *self.0.lock().expect("clock")
        }
    }

    #[tokio::test]
    async fn counts_per_key_within_a_window_and_resets_after_it() {
        let clock = Arc::new(TestClock(Mutex::new(Utc::now())));
        let limiter = MemoryRateLimiter::new(clock.clone());
        let w = Duration::from_secs(10);
        for expected_remaining in [1, 0] {
            let d = limiter.check("a", 2, w).await.expect("counts");
            assert!(d.allowed);
            assert_eq!(d.remaining, expected_remaining);
        }
        let refused = limiter.check("a", 2, w).await.expect("counts");
        assert!(!refused.allowed);
        assert_eq!(refused.reset_after, w);
        assert!(limiter.check("b", 2, w).await.expect("counts").allowed, "keys are independent");

        clock.advance(Duration::from_secs(4));
        assert_eq!(limiter.check("a", 2, w).await.expect("counts").reset_after, Duration::from_secs(6));
        clock.advance(Duration::from_secs(6));
        let fresh = limiter.check("a", 2, w).await.expect("counts");
        assert!(fresh.allowed);
        assert_eq!((fresh.remaining, fresh.reset_after), (1, w));
    }
}
