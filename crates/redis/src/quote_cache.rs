//! [`RedisQuoteCache`]: a `QuoteProvider` decorator that caches quotes in Redis, shared by
//! every instance, in front of any upstream provider.
//!
//! - **Fresh** for `ttl` after it was fetched: served from Redis, `max_age` = what is left.
//! - **One upstream call per cold symbol.** Within an instance, concurrent misses of one
//!   symbol share one flight (a `OnceCell` per symbol). Across instances, the flight takes a
//!   short Redis lock (`SET …:lock <token> NX PX`) before calling; an instance that finds the
//!   lock taken polls the cache until the holder has written the quote, the lock is gone (it
//!   then tries to take it), or `wait` has passed.
//! - **Last known.** The cached value lives `keep_last` (much longer than `ttl`); freshness is
//!   decided from the fetch time stored with it. When the upstream fails (breaker open,
//!   throttled, timeout…) the last known quote is served with `stale: true` and `max_age` 0;
//!   with nothing cached the answer is `QuoteError::Unavailable` (HTTP 503).
//! - An unknown symbol is passed through, never cached (the asset list in front of this
//!   decorator already keeps unlisted symbols away from the provider).
//! - **Redis down**: the cache is skipped (each flight calls the upstream directly); quotes
//!   keep flowing, only cross-instance sharing is lost.
//!
//! Keys, with the symbol as hash tag so a value and its lock share a cluster slot:
//! `<prefix>quote:{AAPL}` (JSON, `PX keep_last`) and `<prefix>quote:{AAPL}:lock`.
//! Freshness uses the `Clock` port, so tests move time by hand.

use crate::pool::RedisPool;
use async_trait::async_trait;
use brokerage_domain::Clock;
use brokerage_domain::market::{Quote, QuoteError, QuoteProvider, Symbol};
use brokerage_domain::values::Price;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::OnceCell;
use tokio::time::Instant;

/// Deletes the lock only if it still holds our token (it may have expired and been taken).
const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuoteCacheConfig {
    /// Prepended to every key (deployments, and tests, sharing one Redis use different ones).
    pub key_prefix: String,
    /// How long a fetched quote is fresh.
    pub ttl: Duration,
    /// How long the last known quote is kept for stale serving (at least `ttl`).
    pub keep_last: Duration,
    /// Lifetime of the cross-instance fetch lock: longer than the slowest upstream call
    /// (`CallPolicy::worst_case`), so a crashed holder blocks nobody for long.
    pub lock_ttl: Duration,
    /// How long a request waits for another instance's fetch before giving up (stale or 503).
    pub wait: Duration,
    /// How often a waiting request looks at the cache.
    pub poll_every: Duration,
}

impl Default for QuoteCacheConfig {
    fn default() -> Self {
        Self {
            key_prefix: "marketdata:".to_owned(),
            ttl: Duration::from_secs(60),
            keep_last: Duration::from_secs(24 * 3600),
            lock_ttl: Duration::from_secs(20),
            wait: Duration::from_secs(20),
            poll_every: Duration::from_millis(50),
        }
    }
}

/// What one flight found, shared by every request that waited for it.
#[derive(Clone)]
enum Flight {
    Fresh(Cached),
    Unknown,
    Failed(Arc<anyhow::Error>),
}

pub struct RedisQuoteCache {
    pool: RedisPool,
    upstream: Arc<dyn QuoteProvider>,
    clock: Arc<dyn Clock>,
    config: QuoteCacheConfig,
    flights: Mutex<HashMap<Symbol, Arc<OnceCell<Flight>>>>,
    release: redis::Script,
}

impl RedisQuoteCache {
    pub fn new(
        pool: RedisPool,
        upstream: Arc<dyn QuoteProvider>,
        clock: Arc<dyn Clock>,
        config: QuoteCacheConfig,
    ) -> Self {
        let config = QuoteCacheConfig { keep_last: config.keep_last.max(config.ttl), ..config };
        Self {
            pool,
            upstream,
            clock,
            config,
            flights: Mutex::new(HashMap::new()),
            release: redis::Script::new(RELEASE),
        }
    }

    fn key(&self, symbol: &Symbol) -> String {
        format!("{}quote:{{{symbol}}}", self.config.key_prefix)
    }

    fn lock_key(&self, symbol: &Symbol) -> String {
        format!("{}quote:{{{symbol}}}:lock", self.config.key_prefix)
    }

    /// The cached entry, if any. A Redis failure or an unreadable value reads as a miss.
    async fn read(&self, symbol: &Symbol) -> Option<Cached> {
        let raw: Option<String> = match self.pool.get().await {
            Ok(mut conn) => match redis::cmd("GET").arg(self.key(symbol)).query_async(&mut *conn).await {
                Ok(raw) => raw,
                Err(e) => {
                    tracing::warn!(error = e.category(), market.symbol = %symbol, "quote cache read failed");
                    return None;
                }
            },
            Err(e) => {
                tracing::warn!(error = %e, "no Redis connection for the quote cache");
                return None;
            }
        };
        let cached = Cached::decode(&raw?);
        if cached.as_ref().is_none_or(|c| &c.symbol != symbol) {
            tracing::warn!(market.symbol = %symbol, "unreadable quote cache entry ignored");
            return None;
        }
        cached
    }

    /// The cached entry while it is fresh.
    async fn read_fresh(&self, symbol: &Symbol) -> Option<Cached> {
        self.read(symbol).await.filter(|c| c.is_fresh(self.clock.now(), self.config.ttl))
    }

    async fn write(&self, symbol: &Symbol, cached: &Cached) {
        let Some(value) = cached.encode() else { return };
        let written: Result<(), String> = async {
            let mut conn = self.pool.get().await.map_err(|e| e.to_string())?;
            redis::cmd("SET")
                .arg(self.key(symbol))
                .arg(value)
                .arg("PX")
                .arg(millis(self.config.keep_last))
                .query_async(&mut *conn)
                .await
                .map_err(|e| e.category().to_owned())
        }
        .await;
        if let Err(e) = written {
            tracing::warn!(error = %e, market.symbol = %symbol, "quote cache write failed");
        }
    }

    /// `Ok(true)` when this caller now holds the fetch lock.
    async fn try_lock(&self, symbol: &Symbol, token: &str) -> Result<bool, String> {
        let mut conn = self.pool.get().await.map_err(|e| e.to_string())?;
        let set: Option<String> = redis::cmd("SET")
            .arg(self.lock_key(symbol))
            .arg(token)
            .arg("NX")
            .arg("PX")
            .arg(millis(self.config.lock_ttl))
            .query_async(&mut *conn)
            .await
            .map_err(|e| e.category().to_owned())?;
        Ok(set.is_some())
    }

    async fn unlock(&self, symbol: &Symbol, token: &str) {
        let released: Result<i64, String> = async {
            let mut conn = self.pool.get().await.map_err(|e| e.to_string())?;
            self.release
                .key(self.lock_key(symbol))
                .arg(token)
                .invoke_async(&mut *conn)
                .await
                .map_err(|e| e.category().to_owned())
        }
        .await;
        if let Err(e) = released {
            // It expires by itself after `lock_ttl`.
            tracing::warn!(error = %e, market.symbol = %symbol, "quote fetch lock not released");
        }
    }

    /// Runs (or joins) this instance's one flight for `symbol`.
    async fn single_flight(&self, symbol: &Symbol) -> Flight {
        let cell = {
            let mut flights = self.flights.lock().unwrap_or_else(PoisonError::into_inner);
            flights.entry(symbol.clone()).or_default().clone()
        };
        let flight = cell.get_or_init(|| self.fetch(symbol)).await.clone();
        let mut flights = self.flights.lock().unwrap_or_else(PoisonError::into_inner);
        if flights.get(symbol).is_some_and(|current| Arc::ptr_eq(current, &cell)) {
            flights.remove(symbol);
        }
        flight
    }

    /// One flight: a fresh entry another instance wrote, or one upstream call under the lock.
    async fn fetch(&self, symbol: &Symbol) -> Flight {
        let token = uuid::Uuid::now_v7().to_string();
        let give_up = Instant::now() + self.config.wait;
        loop {
            if let Some(cached) = self.read_fresh(symbol).await {
                return Flight::Fresh(cached);
            }
            match self.try_lock(symbol, &token).await {
                Ok(true) => {
                    // Another instance may have written its quote and released the lock
                    // between the read above and this lock: then there is nothing to fetch.
                    let flight = match self.read_fresh(symbol).await {
                        Some(cached) => Flight::Fresh(cached),
                        None => self.call_upstream(symbol).await,
                    };
                    self.unlock(symbol, &token).await;
                    return flight;
                }
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(error = %e, market.symbol = %symbol, "quote fetch lock unavailable; fetching without it");
                    return self.call_upstream(symbol).await;
                }
            }
            if Instant::now() >= give_up {
                return Flight::Failed(Arc::new(anyhow::anyhow!(
                    "another instance has been fetching {symbol} for over {} ms",
                    self.config.wait.as_millis()
                )));
            }
            tokio::time::sleep(self.config.poll_every).await;
        }
    }

    async fn call_upstream(&self, symbol: &Symbol) -> Flight {
        match self.upstream.quote(symbol).await {
            Ok(quote) => {
                let cached = Cached::of(&quote, self.clock.now());
                self.write(symbol, &cached).await;
                Flight::Fresh(cached)
            }
            Err(QuoteError::UnknownSymbol) => Flight::Unknown,
            Err(QuoteError::Unavailable(cause)) => Flight::Failed(Arc::new(cause)),
        }
    }
}

#[async_trait]
impl QuoteProvider for RedisQuoteCache {
    #[tracing::instrument(name = "quote_cache.get", skip_all, fields(market.symbol = %symbol, cache.hit))]
    async fn quote(&self, symbol: &Symbol) -> Result<Quote, QuoteError> {
        let ttl = self.config.ttl;
        let cached = self.read(symbol).await;
        if let Some(fresh) = cached.as_ref().and_then(|c| c.to_quote(self.clock.now(), ttl)) {
            tracing::Span::current().record("cache.hit", true);
            return Ok(fresh);
        }
        tracing::Span::current().record("cache.hit", false);
        match self.single_flight(symbol).await {
            // Just fetched: fresh, even when the TTL is zero or already spent.
            Flight::Fresh(c) => Ok(c.to_quote(self.clock.now(), ttl).unwrap_or_else(|| c.quote(false, Duration::ZERO))),
            Flight::Unknown => Err(QuoteError::UnknownSymbol),
            Flight::Failed(cause) => {
                // Another instance may have fetched since the first look.
                let last = self.read(symbol).await.or(cached);
                match last {
                    Some(c) => {
                        let quote = c.to_quote(self.clock.now(), ttl).unwrap_or_else(|| c.stale());
                        if quote.stale {
                            tracing::warn!(error = %format!("{cause:#}"), market.symbol = %symbol, "market data failing; serving the last known quote");
                        }
                        Ok(quote)
                    }
                    None => Err(QuoteError::Unavailable(anyhow::Error::new(Shared(cause)))),
                }
            }
        }
    }
}

/// An upstream failure shared by the requests of one flight, its cause chain intact.
struct Shared(Arc<anyhow::Error>);

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&*self.0, f)
    }
}

impl std::error::Error for Shared {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}

/// A quote as cached: the quote and when it was fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Cached {
    symbol: Symbol,
    price: Price,
    bid: Price,
    ask: Price,
    as_of: DateTime<Utc>,
    source: &'static str,
    fetched_at: DateTime<Utc>,
}

/// The stored JSON (`v` versions the layout: an entry of another version reads as a miss).
#[derive(Serialize, Deserialize)]
struct Stored {
    v: u8,
    symbol: String,
    price: String,
    bid: String,
    ask: String,
    as_of: DateTime<Utc>,
    source: String,
    fetched_at: DateTime<Utc>,
}

/// `Quote::source` is `&'static str`: map the stored text back onto the known providers.
fn known_source(s: &str) -> &'static str {
    match s {
        "alpha_vantage" => "alpha_vantage",
        "simulated" => "simulated",
        _ => "cache",
    }
}

impl Cached {
    fn of(q: &Quote, fetched_at: DateTime<Utc>) -> Self {
        Self {
            symbol: q.symbol.clone(),
            price: q.price,
            bid: q.bid,
            ask: q.ask,
            as_of: q.as_of,
            source: q.source,
            fetched_at,
        }
    }

    fn encode(&self) -> Option<String> {
        serde_json::to_string(&Stored {
            v: 1,
            symbol: self.symbol.to_string(),
            price: self.price.get().to_string(),
            bid: self.bid.get().to_string(),
            ask: self.ask.get().to_string(),
            as_of: self.as_of,
            source: self.source.to_owned(),
            fetched_at: self.fetched_at,
        })
        .ok()
    }

    fn decode(raw: &str) -> Option<Self> {
        let s: Stored = serde_json::from_str(raw).ok()?;
        let price = |t: &str| Decimal::from_str(t).ok().and_then(|d| Price::new(d).ok());
        (s.v == 1).then_some(())?;
        Some(Self {
            symbol: Symbol::parse(&s.symbol).ok()?,
            price: price(&s.price)?,
            bid: price(&s.bid)?,
            ask: price(&s.ask)?,
            as_of: s.as_of,
            source: known_source(&s.source),
            fetched_at: s.fetched_at,
        })
    }

    fn fresh_until(&self, ttl: Duration) -> DateTime<Utc> {
        let ttl = chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::MAX);
        self.fetched_at.checked_add_signed(ttl).unwrap_or(DateTime::<Utc>::MAX_UTC)
    }

    fn is_fresh(&self, now: DateTime<Utc>, ttl: Duration) -> bool {
        now < self.fresh_until(ttl)
    }

    fn quote(&self, stale: bool, max_age: Duration) -> Quote {
        Quote {
            symbol: self.symbol.clone(),
            price: self.price,
            bid: self.bid,
            ask: self.ask,
            as_of: self.as_of,
            source: self.source,
            stale,
            max_age: Some(max_age),
        }
    }

    /// The quote while fresh, with what is left of its freshness.
    fn to_quote(&self, now: DateTime<Utc>, ttl: Duration) -> Option<Quote> {
        let left = (self.fresh_until(ttl) - now).to_std().ok().filter(|left| !left.is_zero())?;
        Some(self.quote(false, left))
    }

    /// The last known quote, served while the provider fails.
    fn stale(&self) -> Quote {
        self.quote(true, Duration::ZERO)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cached(fetched_at: i64) -> Cached {
        let p = |s: &str| Price::new(Decimal::from_str(s).expect("decimal")).expect("price");
        Cached {
            symbol: Symbol::parse("BRK.B").expect("valid"),
            price: p("412.5"),
            bid: p("412.45"),
            ask: p("412.55"),
            as_of: DateTime::from_timestamp(1_700_000_000, 0).expect("valid"),
            source: "alpha_vantage",
            fetched_at: DateTime::from_timestamp(fetched_at, 0).expect("valid"),
        }
    }

    #[test]
    fn entries_round_trip_and_unknown_layouts_read_as_misses() {
        let c = cached(1_700_000_000);
        assert_eq!(Cached::decode(&c.encode().expect("encodes")), Some(c));
        for bad in [
            "",
            "{}",
            "not json",
            r#"{"v":2,"symbol":"A","price":"1","bid":"1","ask":"1","as_of":"2024-01-01T00:00:00Z","source":"x","fetched_at":"2024-01-01T00:00:00Z"}"#,
        ] {
            assert_eq!(Cached::decode(bad), None, "{bad}");
        }
    }

    #[test]
    fn freshness_counts_down_from_the_fetch_and_ends_exactly_at_the_ttl() {
        let c = cached(1_000);
        let at = |t: i64| DateTime::from_timestamp(t, 0).expect("valid");
        let ttl = Duration::from_secs(60);
        assert_eq!(c.to_quote(at(1_000), ttl).and_then(|q| q.max_age), Some(Duration::from_secs(60)));
        assert_eq!(c.to_quote(at(1_045), ttl).and_then(|q| q.max_age), Some(Duration::from_secs(15)));
        assert_eq!(c.to_quote(at(1_060), ttl), None);
        let stale = c.stale();
        assert!(stale.stale);
        assert_eq!((stale.max_age, stale.price), (Some(Duration::ZERO), c.price));
    }
}
