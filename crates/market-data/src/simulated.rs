//! A deterministic simulated market: each listed symbol's price is a seeded random walk over
//! a sliding window of one-second steps, so the price at a given second is the same on every
//! instance and after every restart (no state, no lock), and tests with a fixed clock see
//! fixed prices. All arithmetic is integer and decimal; no floating point.

use async_trait::async_trait;
use brokerage_domain::Clock;
use brokerage_domain::market::{Quote, QuoteError, QuoteProvider, Symbol};
use brokerage_domain::values::Price;
use rust_decimal::Decimal;
use std::sync::Arc;

/// The symbols the simulated market lists, with a base price in cents.
pub const LISTINGS: &[(&str, i64)] = &[
    ("AAPL", 19_000),
    ("MSFT", 42_000),
    ("GOOGL", 17_000),
    ("AMZN", 18_500),
    ("NVDA", 12_000),
    ("META", 50_000),
    ("TSLA", 25_000),
    ("BRK.B", 41_000),
    ("JPM", 20_000),
    ("V", 28_000),
    ("JNJ", 15_500),
    ("WMT", 8_000),
    ("PG", 16_500),
    ("XOM", 11_500),
    ("KO", 6_200),
    ("DIS", 10_000),
    ("NFLX", 65_000),
    ("AMD", 16_000),
    ("INTC", 3_000),
    ("IBM", 21_000),
    ("SPY", 56_000),
    ("QQQ", 48_000),
];

/// Steps in the sliding window: the walk's standard deviation is about
/// `sqrt(WINDOW) × MAX_STEP_BP / sqrt(3)` basis points (≈ 1.5 %).
const WINDOW: i64 = 240;
const MAX_STEP_BP: i64 = 17;
/// Half the bid/ask spread, in basis points of the price (at least one cent).
const HALF_SPREAD_BP: i64 = 1;

pub struct SimulatedMarket {
    seed: u64,
    clock: Arc<dyn Clock>,
}

impl SimulatedMarket {
    pub fn new(seed: u64, clock: Arc<dyn Clock>) -> Self {
        Self { seed, clock }
    }

    /// Mid price in cents of `base_cents` at second `t`.
    fn mid_cents(&self, symbol: &str, base_cents: i64, t: i64) -> i64 {
        let symbol_seed = symbol.bytes().fold(self.seed, |h, b| splitmix64(h ^ u64::from(b)));
        let walk_bp: i64 = ((t - WINDOW + 1)..=t)
            .map(|step| {
                let r = splitmix64(symbol_seed ^ (step as u64));
                (r % (2 * MAX_STEP_BP as u64 + 1)) as i64 - MAX_STEP_BP
            })
            .sum();
        (base_cents * (10_000 + walk_bp) / 10_000).max(1)
    }
}

/// SplitMix64: a tiny, well-mixed, deterministic hash.
fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

fn cents(c: i64) -> Result<Price, QuoteError> {
    Price::new(Decimal::new(c, 2))
        .map_err(|e| QuoteError::Unavailable(anyhow::anyhow!("simulated price out of range: {e}")))
}

#[async_trait]
impl QuoteProvider for SimulatedMarket {
    async fn quote(&self, symbol: &Symbol) -> Result<Quote, QuoteError> {
        let &(_, base) = LISTINGS.iter().find(|(s, _)| *s == symbol.as_str()).ok_or(QuoteError::UnknownSymbol)?;
        let now = self.clock.now();
        let mid = self.mid_cents(symbol.as_str(), base, now.timestamp());
        let half_spread = (mid * HALF_SPREAD_BP / 10_000).max(1);
        Ok(Quote {
            symbol: symbol.clone(),
            price: cents(mid)?,
            bid: cents((mid - half_spread).max(1))?,
            ask: cents(mid + half_spread)?,
            as_of: now,
            source: "simulated",
            stale: false,
            // Uncached: the walk takes a step every second.
            max_age: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, TimeZone, Utc};

    struct Fixed(DateTime<Utc>);
    impl Clock for Fixed {
        fn now(&self) -> DateTime<Utc> {
            self.0
        }
    }

    fn market(seed: u64, at: i64) -> SimulatedMarket {
        SimulatedMarket::new(seed, Arc::new(Fixed(Utc.timestamp_opt(at, 0).single().expect("valid"))))
    }

    fn aapl() -> Symbol {
        Symbol::parse("AAPL").expect("valid")
    }

    #[tokio::test]
    async fn the_same_seed_and_second_give_the_same_quote() {
        let a = market(7, 1_700_000_000).quote(&aapl()).await.expect("listed");
        let b = market(7, 1_700_000_000).quote(&aapl()).await.expect("listed");
        assert_eq!(a, b);
        let c = market(8, 1_700_000_000).quote(&aapl()).await.expect("listed");
        assert_ne!(a.price, c.price, "another seed walks elsewhere");
    }

    #[tokio::test]
    async fn bid_is_below_ask_and_prices_stay_near_the_base() {
        for t in (1_700_000_000..1_700_100_000).step_by(997) {
            let q = market(1, t).quote(&aapl()).await.expect("listed");
            assert!(q.bid < q.price && q.price < q.ask, "{q:?}");
            let p = q.price.get();
            assert!(p > Decimal::from(150) && p < Decimal::from(230), "{p}");
        }
    }

    #[tokio::test]
    async fn the_price_moves_over_time() {
        let prices: std::collections::HashSet<_> = (0..60)
            .map(|i| market(1, 1_700_000_000 + i))
            .map(|m| m.mid_cents("AAPL", 19_000, m.clock.now().timestamp()))
            .collect();
        assert!(prices.len() > 10);
    }

    #[test]
    fn every_simulated_symbol_is_a_tradable_fractionable_asset() {
        use brokerage_domain::market::ASSET_LIST;
        for (symbol, _) in LISTINGS {
            let asset = ASSET_LIST.iter().find(|a| a.symbol == *symbol);
            assert!(asset.is_some_and(|a| a.tradable && a.fractionable), "{symbol} is missing from ASSET_LIST");
        }
    }

    #[tokio::test]
    async fn unlisted_symbols_are_unknown() {
        let err = market(1, 0).quote(&Symbol::parse("ZZZZ").expect("valid")).await;
        assert!(matches!(err, Err(QuoteError::UnknownSymbol)));
    }
}
