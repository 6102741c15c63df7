//! Quote providers.
//!
//! - [`SimulatedMarket`]: the default. Deterministic, needs no network, cannot fail.
//! - [`AlphaVantage`]: a real provider over HTTPS (reqwest + rustls). Every call goes through
//!   [`Resilient`]: a [`CircuitBreaker`] (state observable through [`BreakerHealth`] and
//!   [`CircuitBreaker::state`]), an outbound [`CallBudget`] shared by every instance, a
//!   per-call timeout and bounded, jittered retries of transient failures only.
//!
//! Caching (and serving last-known quotes while the provider fails) is a decorator over any
//! provider, in the Redis adapter: `brokerage_redis::RedisQuoteCache`.

mod alpha_vantage;
mod breaker;
mod error;
mod health;
mod resilience;
mod simulated;

pub use alpha_vantage::{AlphaVantage, AlphaVantageConfig, Bar, BarInterval, SOURCE as ALPHA_VANTAGE};
pub use breaker::{BreakerConfig, BreakerState, CircuitBreaker, Permit, Refused};
pub use error::MarketDataError;
pub use health::BreakerHealth;
pub use resilience::{CallBudget, CallPolicy, Resilient};
pub use simulated::{LISTINGS, SimulatedMarket};
