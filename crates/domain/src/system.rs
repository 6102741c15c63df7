//! Time and identity come from ports so that tests are deterministic.

use chrono::{DateTime, SubsecRound, Utc};
use uuid::Uuid;

#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
pub trait IdGenerator: Send + Sync {
    /// A new, unique, time-ordered (v7) id.
    fn new_id(&self) -> Uuid;
}

/// The wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    /// Truncated to microseconds, the precision Postgres keeps, so that a timestamp reads
    /// back exactly as it was returned whichever adapter stored it.
    fn now(&self) -> DateTime<Utc> {
        Utc::now().trunc_subsecs(6)
    }
}

/// UUID v7 from the system clock and a CSPRNG.
#[derive(Debug, Default, Clone, Copy)]
pub struct UuidV7Generator;

impl IdGenerator for UuidV7Generator {
    fn new_id(&self) -> Uuid {
        Uuid::now_v7()
    }
}

/// A dependency's health, for readiness probes.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait::async_trait]
pub trait HealthCheck: Send + Sync {
    /// Short name shown in `/health/ready` (`postgres`, `redis`, `market_data`).
    fn name(&self) -> &'static str;

    /// `Err` with a short, secret-free reason when the dependency cannot serve now.
    async fn check(&self) -> Result<(), String>;

    /// Whether a failed check makes the instance unready. `false` for a dependency the
    /// service degrades around (market data: last-known quotes are served, marked stale):
    /// its state is reported, but taking every instance out of the load balancer because a
    /// shared third party is down would turn a degradation into an outage.
    fn critical(&self) -> bool {
        true
    }
}
