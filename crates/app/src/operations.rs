//! Wiring of the operational parts: the rate limiter and its policy, the gauges sampled at
//! each `/metrics` scrape, and the market-data span.

use crate::settings::Settings;
use async_trait::async_trait;
use brokerage_domain::Clock;
use brokerage_domain::limits::RateLimiter;
use brokerage_domain::market::{Quote, QuoteError, QuoteProvider, Symbol};
use brokerage_http::{GaugeProbe, Limit, Ops, RateLimitPolicy};
use std::sync::Arc;
use std::time::Duration;

/// Gauge names (see `docs/operations.md`).
pub const POOL_CONNECTIONS: &str = "brokerage_pool_connections";
pub const POOL_MAX: &str = "brokerage_pool_max_connections";

/// What the HTTP layer needs for rate limits and metrics. Limits are counted in Redis when
/// a Redis pool is given (shared by every instance), in this process's memory otherwise.
pub(crate) fn ops(
    settings: &Settings,
    redis: Option<&brokerage_redis::RedisPool>,
    clock: Arc<dyn Clock>,
    mut gauges: Vec<GaugeProbe>,
) -> Ops {
    let limiter: Arc<dyn RateLimiter> = match redis {
        Some(pool) => {
            gauges.extend(pool_gauges("redis", settings.redis.max_connections, {
                let pool = pool.clone();
                move || {
                    let s = pool.state();
                    (s.connections, s.idle_connections)
                }
            }));
            Arc::new(brokerage_redis::RedisRateLimiter::with_prefix(
                pool.clone(),
                settings.rate_limit.key_prefix.clone(),
            ))
        }
        None => Arc::new(brokerage_memory::MemoryRateLimiter::new(clock)),
    };
    // `gauges` already holds the Postgres pool's and the market-data breaker's
    // (`crate::market_data`); the Redis pool's are added here.
    Ops {
        rate_limiter: Some(limiter),
        rate_limits: policy(settings),
        gauges,
        metrics_on_public_port: settings.http.admin_port.is_none(),
        // Other parts (idempotency keys) are set by the caller.
        ..Ops::default()
    }
}

pub(crate) fn policy(settings: &Settings) -> RateLimitPolicy {
    let rl = &settings.rate_limit;
    RateLimitPolicy {
        enabled: rl.enabled,
        login: Limit::new(rl.login_limit, Duration::from_secs(rl.login_window_secs.max(1))),
        trading: Limit::new(rl.trading_limit, Duration::from_secs(rl.trading_window_secs.max(1))),
        general: Limit::new(rl.general_limit, Duration::from_secs(rl.general_window_secs.max(1))),
        fail_open: rl.fail_open,
        trust_forwarded_for: rl.trust_forwarded_for,
        timeout: Duration::from_millis(rl.timeout_ms.max(1)),
    }
}

/// `brokerage_pool_connections{pool, state="in_use"|"idle"}` and
/// `brokerage_pool_max_connections{pool}`, read from a bb8 pool's `state()` at scrape time.
pub(crate) fn pool_gauges(
    pool: &'static str,
    max: u32,
    state: impl Fn() -> (u32, u32) + Send + Sync + 'static,
) -> Vec<GaugeProbe> {
    let state = Arc::new(state);
    let in_use = state.clone();
    vec![
        GaugeProbe::new(POOL_CONNECTIONS, &[("pool", pool), ("state", "in_use")], move || {
            let (open, idle) = in_use();
            f64::from(open.saturating_sub(idle))
        }),
        GaugeProbe::new(POOL_CONNECTIONS, &[("pool", pool), ("state", "idle")], move || f64::from(state().1)),
        GaugeProbe::new(POOL_MAX, &[("pool", pool)], move || f64::from(max)),
    ]
}

/// Puts every quote lookup in a `market_data.quote` span, whatever the provider (and cache)
/// behind it, so a trace shows the market-data call under the service call.
pub(crate) struct TracedQuotes(pub Arc<dyn QuoteProvider>);

#[async_trait]
impl QuoteProvider for TracedQuotes {
    #[tracing::instrument(name = "market_data.quote", skip_all, fields(market.symbol = %symbol, otel.kind = "client"))]
    async fn quote(&self, symbol: &Symbol) -> Result<Quote, QuoteError> {
        self.0.quote(symbol).await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used)]
    use super::*;

    #[test]
    fn pool_gauges_split_open_connections_into_in_use_and_idle() {
        let gauges = pool_gauges("postgres", 32, || (10, 3));
        let read: Vec<(String, f64)> =
            gauges.iter().map(|g| (format!("{}{:?}", g.name, g.labels), (g.read)())).collect();
        assert_eq!(read[0].1, 7.0, "{read:?}");
        assert_eq!(read[1].1, 3.0, "{read:?}");
        assert_eq!(read[2].1, 32.0, "{read:?}");
    }

    #[test]
    fn the_policy_follows_the_settings() {
        let settings = Settings::load_from(None, [("BROKERAGE__RATE_LIMIT__TRADING_LIMIT".to_owned(), "4".to_owned())])
            .expect("settings");
        let p = policy(&settings);
        assert_eq!(p.trading, Limit::new(4, Duration::from_secs(1)));
        assert_eq!(p.login, Limit::new(5, Duration::from_secs(900)));
        assert!(p.fail_open);
    }
}
