//! What the operational middleware and endpoints need: the rate limiter and its policy, the
//! gauges sampled at each `/metrics` scrape, and where `/metrics` is served.

use crate::metrics::GaugeProbe;
use crate::rate_limit::RateLimitPolicy;
use brokerage_domain::idempotency::IdempotencyService;
use brokerage_domain::limits::RateLimiter;
use std::sync::Arc;

#[derive(Clone)]
pub struct Ops {
    /// `None`: no rate limiting (tests of other features).
    pub rate_limiter: Option<Arc<dyn RateLimiter>>,
    pub rate_limits: RateLimitPolicy,
    /// Sampled when `/metrics` is scraped (pool usage, breaker state).
    pub gauges: Vec<GaugeProbe>,
    /// `false` when a separate admin listener serves `/metrics`: the public port answers 404.
    pub metrics_on_public_port: bool,
    /// `Idempotency-Key` handling (see `idempotency`). `None`: the header is ignored (tests of
    /// other features).
    pub idempotency: Option<IdempotencyService>,
}

impl Default for Ops {
    /// No rate limiting, no gauges, `/metrics` on the public port, no idempotency keys.
    fn default() -> Self {
        Self {
            rate_limiter: None,
            rate_limits: RateLimitPolicy::default(),
            gauges: Vec::new(),
            metrics_on_public_port: true,
            idempotency: None,
        }
    }
}
