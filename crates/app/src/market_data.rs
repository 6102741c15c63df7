//! Wiring of market data: the provider the settings name, its call budget and circuit
//! breaker, the Redis quote cache, and the asset-list gate in front of it all; the breaker's
//! readiness check and gauge.
//!
//! ```text
//! ListedQuotes (asset list) → QuoteMemo (≤ 1 s in process) → RedisQuoteCache → AlphaVantage (breaker, budget, timeout, retries)
//! ListedQuotes (asset list) → SimulatedMarket
//! ```
//!
//! The simulated market is not cached, even with Redis: it is computed in-process from the
//! clock, cannot fail and needs no budget, so a cache would only add a Redis round trip and
//! hold prices still for the TTL (its quotes say `max_age: None`, sent as `max-age=0`).
//! Alpha Vantage without `REDIS_URL` (the demo mode) runs uncached, with its call budget
//! counted in this process.

use crate::quote_memo::QuoteMemo;
use crate::settings::{Provider, Settings};
use brokerage_domain::limits::RateLimiter;
use brokerage_domain::market::{AssetStore, ListedQuotes, QuoteProvider};
use brokerage_domain::{Clock, HealthCheck};
use brokerage_http::GaugeProbe;
use brokerage_market_data::{
    ALPHA_VANTAGE, AlphaVantage, AlphaVantageConfig, BreakerConfig, BreakerHealth, CallBudget, CallPolicy,
    SimulatedMarket,
};
use std::sync::Arc;
use std::time::Duration;

/// `brokerage_market_data_breaker_state{provider}`: 0 closed, 1 half-open, 2 open.
pub const BREAKER_STATE: &str = "brokerage_market_data_breaker_state";

/// The budget counter's key, under `market_data.key_prefix`.
const BUDGET_KEY: &str = "budget:alpha_vantage";

pub(crate) struct MarketData {
    /// Quotes of listed symbols only (`unknown_symbol` otherwise): what clients ask for.
    pub(crate) quotes: Arc<dyn QuoteProvider>,
    /// The same quotes without the asset-list check, for callers that already checked the
    /// symbol (order placement reads the asset itself; the engine and valuations only see
    /// symbols of stored orders and positions): one asset read per order instead of two.
    pub(crate) unlisted: Arc<dyn QuoteProvider>,
    pub(crate) health: Vec<Arc<dyn HealthCheck>>,
    pub(crate) gauges: Vec<GaugeProbe>,
}

pub(crate) fn build(
    settings: &Settings,
    redis: Option<&brokerage_redis::RedisPool>,
    clock: Arc<dyn Clock>,
    assets: Arc<dyn AssetStore>,
) -> anyhow::Result<MarketData> {
    let md = &settings.market_data;
    let (upstream, health, gauges): (Arc<dyn QuoteProvider>, Vec<Arc<dyn HealthCheck>>, _) = match md.provider {
        Provider::Simulated => (Arc::new(SimulatedMarket::new(md.seed, clock)), Vec::new(), Vec::new()),
        Provider::AlphaVantage => {
            let api_key = md.api_key.clone().ok_or_else(|| {
                anyhow::anyhow!(
                    "BROKERAGE__MARKET_DATA__API_KEY is required with BROKERAGE__MARKET_DATA__PROVIDER=alpha_vantage"
                )
            })?;
            let policy = CallPolicy {
                timeout: Duration::from_millis(md.timeout_ms.max(1)),
                max_attempts: md.max_attempts.max(1),
                backoff_base: Duration::from_millis(md.retry_base_ms),
                backoff_max: Duration::from_millis(md.retry_base_ms.saturating_mul(10)),
            };
            let limiter: Arc<dyn RateLimiter> = match redis {
                Some(pool) => {
                    Arc::new(brokerage_redis::RedisRateLimiter::with_prefix(pool.clone(), md.key_prefix.clone()))
                }
                None => Arc::new(brokerage_memory::MemoryRateLimiter::new(clock.clone())),
            };
            let client = AlphaVantage::new(
                AlphaVantageConfig {
                    base_url: md.base_url.clone(),
                    api_key,
                    policy,
                    breaker: BreakerConfig {
                        failure_threshold: md.breaker_failures.max(1),
                        cool_down: Duration::from_secs(md.breaker_cooldown_secs),
                    },
                },
                clock.clone(),
                Some(CallBudget::new(limiter, BUDGET_KEY, md.calls_per_minute)),
            )?;
            let breaker = client.breaker();
            let health: Vec<Arc<dyn HealthCheck>> = vec![Arc::new(BreakerHealth::new(breaker.clone()))];
            let gauges = vec![GaugeProbe::new(BREAKER_STATE, &[("provider", ALPHA_VANTAGE)], move || {
                breaker.state().as_gauge()
            })];
            let client: Arc<dyn QuoteProvider> = Arc::new(client);
            let upstream: Arc<dyn QuoteProvider> = match redis {
                Some(pool) => {
                    // The fetch lock outlives the slowest call; waiters wait as long.
                    let lock_ttl = policy.worst_case() + Duration::from_secs(1);
                    let shared: Arc<dyn QuoteProvider> = Arc::new(brokerage_redis::RedisQuoteCache::new(
                        pool.clone(),
                        client,
                        clock,
                        brokerage_redis::QuoteCacheConfig {
                            key_prefix: md.key_prefix.clone(),
                            ttl: Duration::from_secs(md.cache_ttl_seconds),
                            keep_last: Duration::from_secs(md.stale_ttl_seconds),
                            lock_ttl,
                            wait: lock_ttl,
                            poll_every: Duration::from_millis(50),
                        },
                    ));
                    match md.memo_ms {
                        0 => shared,
                        ms => Arc::new(QuoteMemo::new(shared, Duration::from_millis(ms))),
                    }
                }
                None => {
                    tracing::warn!(
                        "market data from alpha_vantage without REDIS_URL: quotes are not cached and no stale quote can be served"
                    );
                    client
                }
            };
            tracing::info!(
                provider = ALPHA_VANTAGE,
                calls_per_minute = md.calls_per_minute,
                cache_ttl_s = md.cache_ttl_seconds,
                "market data provider ready"
            );
            (upstream, health, gauges)
        }
    };
    Ok(MarketData { quotes: Arc::new(ListedQuotes::new(assets, upstream.clone())), unlisted: upstream, health, gauges })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used)]
    use super::*;
    use brokerage_domain::system::SystemClock;

    fn settings(pairs: &[(&str, &str)]) -> Settings {
        Settings::load_from(None, pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))).expect("settings")
    }

    #[test]
    fn alpha_vantage_needs_a_key_and_brings_a_breaker_check_and_gauge() {
        let assets = Arc::new(brokerage_memory::MemoryAssets::seeded());
        let without_key = settings(&[("BROKERAGE__MARKET_DATA__PROVIDER", "alpha_vantage")]);
        let err = build(&without_key, None, Arc::new(SystemClock), assets.clone()).err().expect("refused");
        assert!(err.to_string().contains("API_KEY"), "{err}");

        let with_key = settings(&[
            ("BROKERAGE__MARKET_DATA__PROVIDER", "alpha_vantage"),
            ("BROKERAGE__MARKET_DATA__API_KEY", "k"),
        ]);
        let md = build(&with_key, None, Arc::new(SystemClock), assets.clone()).expect("built");
        assert_eq!(md.health.iter().map(|h| h.name()).collect::<Vec<_>>(), ["market_data"]);
        assert_eq!(md.gauges.len(), 1);
        assert_eq!((md.gauges[0].name, (md.gauges[0].read)()), (BREAKER_STATE, 0.0));

        let simulated = build(&settings(&[]), None, Arc::new(SystemClock), assets).expect("built");
        assert!(simulated.health.is_empty() && simulated.gauges.is_empty());
    }
}
