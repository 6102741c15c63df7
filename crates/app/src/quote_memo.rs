//! The newest quotes, kept in process for a moment in front of the shared Redis quote cache.
//!
//! A quote served from the Redis cache is the same for every caller until its `max_age` runs
//! out, yet each request read it from Redis again (a round trip and a JSON decode per quote
//! and per order). This layer keeps a fresh quote for `min(max_age, hold)`, so at most one
//! Redis read per symbol per `hold` per instance, and it never serves a quote past the Redis
//! cache's own freshness: the `max_age` it answers shrinks with the time held. Stale quotes
//! (the provider failing) and quotes without a cache lifetime are never held, so recovery is
//! seen at once.

use async_trait::async_trait;
use brokerage_domain::market::{Quote, QuoteError, QuoteProvider, Symbol};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A bound on the map (symbols are validated and listed before they get here).
const MAX_SYMBOLS: usize = 10_000;

pub(crate) struct QuoteMemo {
    inner: Arc<dyn QuoteProvider>,
    hold: Duration,
    /// A quote, when it was read, and until when it may be served.
    held: Mutex<HashMap<Symbol, (Quote, Instant, Instant)>>,
}

impl QuoteMemo {
    pub(crate) fn new(inner: Arc<dyn QuoteProvider>, hold: Duration) -> Self {
        Self { inner, hold, held: Mutex::new(HashMap::new()) }
    }

    fn held(&self, symbol: &Symbol) -> Option<Quote> {
        let held = self.held.lock().ok()?;
        let (quote, read_at, until) = held.get(symbol)?;
        let now = Instant::now();
        if now >= *until {
            return None;
        }
        let mut quote = quote.clone();
        quote.max_age = quote.max_age.map(|age| age.saturating_sub(now - *read_at));
        Some(quote)
    }
}

#[async_trait]
impl QuoteProvider for QuoteMemo {
    async fn quote(&self, symbol: &Symbol) -> Result<Quote, QuoteError> {
        if let Some(quote) = self.held(symbol) {
            return Ok(quote);
        }
        let quote = self.inner.quote(symbol).await?;
        if let Some(age) = quote.max_age.filter(|age| !quote.stale && !age.is_zero()) {
            let read_at = Instant::now();
            if let Ok(mut held) = self.held.lock() {
                if held.len() >= MAX_SYMBOLS {
                    held.clear();
                }
                held.insert(symbol.clone(), (quote.clone(), read_at, read_at + age.min(self.hold)));
            }
        }
        Ok(quote)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used)]
    use super::*;
    use brokerage_domain::values::Price;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// Counts calls; answers with the configured freshness.
    struct Upstream {
        calls: AtomicU32,
        max_age: Option<Duration>,
        stale: bool,
    }

    #[async_trait]
    impl QuoteProvider for Upstream {
        async fn quote(&self, symbol: &Symbol) -> Result<Quote, QuoteError> {
            let n = self.calls.fetch_add(1, Ordering::SeqCst);
            let price = Price::new(rust_decimal::Decimal::from(100 + n)).expect("price");
            Ok(Quote {
                symbol: symbol.clone(),
                price,
                bid: price,
                ask: price,
                as_of: chrono::Utc::now(),
                source: "test",
                stale: self.stale,
                max_age: self.max_age,
            })
        }
    }

    fn memo(max_age: Option<Duration>, stale: bool, hold: Duration) -> (Arc<Upstream>, QuoteMemo) {
        let upstream = Arc::new(Upstream { calls: AtomicU32::new(0), max_age, stale });
        (upstream.clone(), QuoteMemo::new(upstream, hold))
    }

    #[tokio::test]
    async fn a_fresh_quote_is_held_for_the_shorter_of_hold_and_max_age() {
        let aapl = Symbol::parse("AAPL").expect("symbol");
        let (upstream, memo) = memo(Some(Duration::from_secs(30)), false, Duration::from_millis(200));
        let first = memo.quote(&aapl).await.expect("quote");
        tokio::time::sleep(Duration::from_millis(20)).await;
        let again = memo.quote(&aapl).await.expect("quote");
        assert_eq!((first.price, upstream.calls.load(Ordering::SeqCst)), (again.price, 1));
        assert!(again.max_age < first.max_age, "the freshness shown shrinks while held");
        tokio::time::sleep(Duration::from_millis(250)).await;
        memo.quote(&aapl).await.expect("quote");
        assert_eq!(upstream.calls.load(Ordering::SeqCst), 2, "read again after `hold`");

        let (upstream, memo) = self::memo(Some(Duration::from_millis(50)), false, Duration::from_secs(10));
        memo.quote(&aapl).await.expect("quote");
        tokio::time::sleep(Duration::from_millis(80)).await;
        memo.quote(&aapl).await.expect("quote");
        assert_eq!(upstream.calls.load(Ordering::SeqCst), 2, "never past the cache's own max_age");
    }

    #[tokio::test]
    async fn stale_and_uncached_quotes_are_never_held() {
        let aapl = Symbol::parse("AAPL").expect("symbol");
        for (max_age, stale) in [(Some(Duration::ZERO), true), (Some(Duration::from_secs(5)), true), (None, false)] {
            let (upstream, memo) = memo(max_age, stale, Duration::from_secs(10));
            memo.quote(&aapl).await.expect("quote");
            memo.quote(&aapl).await.expect("quote");
            assert_eq!(upstream.calls.load(Ordering::SeqCst), 2, "{max_age:?} stale={stale}");
        }
    }
}
