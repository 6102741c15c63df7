//! The circuit breaker's state as a readiness check named `market_data`.

use crate::breaker::{BreakerState, CircuitBreaker};
use async_trait::async_trait;
use brokerage_domain::HealthCheck;
use std::sync::Arc;

/// Reports `ok` while the breaker is closed, `open` or `half_open` otherwise. Not critical:
/// while the provider is down the API serves last-known quotes marked stale, so the
/// instance stays in the load balancer (see `HealthCheck::critical`).
pub struct BreakerHealth {
    breaker: Arc<CircuitBreaker>,
}

impl BreakerHealth {
    pub fn new(breaker: Arc<CircuitBreaker>) -> Self {
        Self { breaker }
    }
}

#[async_trait]
impl HealthCheck for BreakerHealth {
    fn name(&self) -> &'static str {
        "market_data"
    }

    async fn check(&self) -> Result<(), String> {
        match self.breaker.state() {
            BreakerState::Closed => Ok(()),
            other => Err(other.as_str().to_owned()),
        }
    }

    fn critical(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::breaker::BreakerConfig;
    use crate::breaker::tests::ManualClock;
    use std::time::Duration;

    #[tokio::test]
    async fn readiness_reports_the_breaker_state_without_failing_the_instance() {
        let clock = ManualClock::new();
        let breaker = Arc::new(CircuitBreaker::new(
            BreakerConfig { failure_threshold: 1, cool_down: Duration::from_secs(10) },
            clock.clone(),
        ));
        let health = BreakerHealth::new(breaker.clone());
        assert_eq!((health.name(), health.critical()), ("market_data", false));
        assert_eq!(health.check().await, Ok(()));
        breaker.try_acquire().expect("closed").failure();
        assert_eq!(health.check().await, Err("open".to_owned()));
        clock.advance(Duration::from_secs(10));
        assert_eq!(health.check().await, Err("half_open".to_owned()));
    }
}
