//! The Redis quote cache against a real Redis (`REDIS_URL`), with a counting fake upstream.
//! Every test uses its own key prefix.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use async_trait::async_trait;
use brokerage_domain::Clock;
use brokerage_domain::market::{Quote, QuoteError, QuoteProvider, Symbol};
use brokerage_domain::values::Price;
use brokerage_redis::{QuoteCacheConfig, RedisConfig, RedisPool, RedisQuoteCache, connect};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::time::Duration;

struct ManualClock(AtomicI64);

impl ManualClock {
    fn new() -> Arc<Self> {
        Arc::new(Self(AtomicI64::new(1_729_000_000_000)))
    }

    fn advance(&self, by: Duration) {
        self.0.fetch_add(i64::try_from(by.as_millis()).unwrap(), Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(self.0.load(Ordering::SeqCst)).unwrap()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Answers a quote at this price in cents.
    Price(i64),
    Unknown,
    Down,
}

/// A provider that counts its calls and answers as told, after `delay`.
struct Upstream {
    calls: AtomicUsize,
    mode: std::sync::Mutex<Mode>,
    delay: Duration,
}

impl Upstream {
    fn new(mode: Mode, delay: Duration) -> Arc<Self> {
        Arc::new(Self { calls: AtomicUsize::new(0), mode: std::sync::Mutex::new(mode), delay })
    }

    fn set(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

fn cents(c: i64) -> Price {
    Price::new(Decimal::new(c, 2)).unwrap()
}

#[async_trait]
impl QuoteProvider for Upstream {
    async fn quote(&self, symbol: &Symbol) -> Result<Quote, QuoteError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(self.delay).await;
        let mode = *self.mode.lock().unwrap();
        match mode {
            Mode::Price(c) => Ok(Quote {
                symbol: symbol.clone(),
                price: cents(c),
                bid: cents(c - 1),
                ask: cents(c + 1),
                as_of: DateTime::from_timestamp(1_729_000_000, 0).unwrap(),
                source: "alpha_vantage",
                stale: false,
                max_age: None,
            }),
            Mode::Unknown => Err(QuoteError::UnknownSymbol),
            Mode::Down => Err(QuoteError::Unavailable(anyhow::anyhow!("throttled: Note"))),
        }
    }
}

async fn pool() -> RedisPool {
    let url = std::env::var("REDIS_URL").expect("REDIS_URL must point at a Redis server (make test provides one)");
    connect(&RedisConfig { url, max_size: 16, connection_timeout: Duration::from_secs(2) })
        .await
        .expect("redis reachable")
}

fn config(prefix: &str) -> QuoteCacheConfig {
    QuoteCacheConfig {
        key_prefix: prefix.to_owned(),
        ttl: Duration::from_secs(60),
        keep_last: Duration::from_secs(3600),
        lock_ttl: Duration::from_secs(5),
        wait: Duration::from_secs(5),
        poll_every: Duration::from_millis(10),
    }
}

fn unique_prefix() -> String {
    format!("test:{}:", uuid::Uuid::now_v7())
}

fn aapl() -> Symbol {
    Symbol::parse("AAPL").unwrap()
}

async fn redis_get(pool: &RedisPool, key: &str) -> (Option<String>, i64) {
    let mut conn = pool.get().await.unwrap();
    let value: Option<String> = redis::cmd("GET").arg(key).query_async(&mut *conn).await.unwrap();
    let ttl: i64 = redis::cmd("PTTL").arg(key).query_async(&mut *conn).await.unwrap();
    (value, ttl)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hundred_concurrent_requests_for_a_cold_symbol_make_one_upstream_call() {
    let upstream = Upstream::new(Mode::Price(19_000), Duration::from_millis(100));
    let cache =
        Arc::new(RedisQuoteCache::new(pool().await, upstream.clone(), ManualClock::new(), config(&unique_prefix())));
    let requests = (0..100).map(|_| {
        let cache = cache.clone();
        tokio::spawn(async move { cache.quote(&aapl()).await })
    });
    let quotes: Vec<Quote> = futures_join(requests).await;
    assert_eq!(upstream.calls(), 1);
    assert!(quotes.iter().all(|q| q.price == cents(19_000) && !q.stale && q.max_age == Some(Duration::from_secs(60))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn instances_sharing_redis_make_one_upstream_call_between_them() {
    let prefix = unique_prefix();
    let clock = ManualClock::new();
    let upstream = Upstream::new(Mode::Price(42_000), Duration::from_millis(150));
    // Three "instances": separate caches (no shared memory), one Redis.
    let mut caches = Vec::new();
    for _ in 0..3 {
        caches.push(Arc::new(RedisQuoteCache::new(pool().await, upstream.clone(), clock.clone(), config(&prefix))));
    }
    let requests = (0..90).map(|i| {
        let cache = caches[i % 3].clone();
        tokio::spawn(async move { cache.quote(&aapl()).await })
    });
    let quotes = futures_join(requests).await;
    assert_eq!(upstream.calls(), 1, "one instance fetched; the others waited for its result");
    assert!(quotes.iter().all(|q| q.price == cents(42_000) && !q.stale));
}

async fn futures_join(handles: impl Iterator<Item = tokio::task::JoinHandle<Result<Quote, QuoteError>>>) -> Vec<Quote> {
    let mut quotes = Vec::new();
    for h in handles {
        quotes.push(h.await.expect("no panic").expect("a quote"));
    }
    quotes
}

#[tokio::test]
async fn a_fresh_quote_is_served_from_redis_and_refetched_after_the_ttl() {
    let prefix = unique_prefix();
    let pool = pool().await;
    let clock = ManualClock::new();
    let upstream = Upstream::new(Mode::Price(10_000), Duration::ZERO);
    let cache = RedisQuoteCache::new(pool.clone(), upstream.clone(), clock.clone(), config(&prefix));

    assert_eq!(cache.quote(&aapl()).await.unwrap().price, cents(10_000));
    let (stored, ttl_ms) = redis_get(&pool, &format!("{prefix}quote:{{AAPL}}")).await;
    assert!(stored.is_some_and(|s| s.contains("\"100\"") || s.contains("100.00")));
    assert!(ttl_ms > 3_500_000 && ttl_ms <= 3_600_000, "kept as last known for keep_last: {ttl_ms}");

    upstream.set(Mode::Price(10_100));
    clock.advance(Duration::from_secs(45));
    let q = cache.quote(&aapl()).await.unwrap();
    assert_eq!((q.price, q.max_age), (cents(10_000), Some(Duration::from_secs(15))), "served from the cache");
    assert_eq!(upstream.calls(), 1);

    clock.advance(Duration::from_secs(15));
    let q = cache.quote(&aapl()).await.unwrap();
    assert_eq!((q.price, q.stale), (cents(10_100), false), "refetched once the TTL ran out");
    assert_eq!(upstream.calls(), 2);
}

#[tokio::test]
async fn the_last_known_quote_is_served_stale_while_the_upstream_fails() {
    let clock = ManualClock::new();
    let upstream = Upstream::new(Mode::Price(25_000), Duration::ZERO);
    let cache = RedisQuoteCache::new(pool().await, upstream.clone(), clock.clone(), config(&unique_prefix()));
    cache.quote(&aapl()).await.unwrap();

    upstream.set(Mode::Down);
    clock.advance(Duration::from_secs(600));
    for _ in 0..3 {
        let q = cache.quote(&aapl()).await.expect("the last known quote");
        assert!(q.stale);
        assert_eq!((q.price, q.max_age, q.source), (cents(25_000), Some(Duration::ZERO), "alpha_vantage"));
    }
    assert_eq!(upstream.calls(), 4, "each stale answer first tried the upstream (the breaker behind it limits that)");

    upstream.set(Mode::Price(25_500));
    let q = cache.quote(&aapl()).await.unwrap();
    assert_eq!((q.price, q.stale), (cents(25_500), false), "fresh again once the upstream recovers");
}

#[tokio::test]
async fn nothing_cached_and_a_failing_upstream_is_unavailable() {
    let upstream = Upstream::new(Mode::Down, Duration::ZERO);
    let cache = RedisQuoteCache::new(pool().await, upstream.clone(), ManualClock::new(), config(&unique_prefix()));
    let err = cache.quote(&aapl()).await.expect_err("nothing to serve");
    assert!(matches!(&err, QuoteError::Unavailable(cause) if format!("{cause:#}").contains("throttled")), "{err:?}");
}

#[tokio::test]
async fn with_a_zero_ttl_every_request_fetches_and_is_fresh() {
    let upstream = Upstream::new(Mode::Price(1_000), Duration::ZERO);
    let config = QuoteCacheConfig { ttl: Duration::ZERO, ..config(&unique_prefix()) };
    let cache = RedisQuoteCache::new(pool().await, upstream.clone(), ManualClock::new(), config);
    for _ in 0..3 {
        let q = cache.quote(&aapl()).await.unwrap();
        assert_eq!((q.stale, q.max_age), (false, Some(Duration::ZERO)));
    }
    assert_eq!(upstream.calls(), 3);
    upstream.set(Mode::Down);
    assert!(cache.quote(&aapl()).await.unwrap().stale, "the last known copy is still kept");
}

#[tokio::test]
async fn unknown_symbols_pass_through_and_are_not_cached() {
    let upstream = Upstream::new(Mode::Unknown, Duration::ZERO);
    let cache = RedisQuoteCache::new(pool().await, upstream.clone(), ManualClock::new(), config(&unique_prefix()));
    for _ in 0..2 {
        assert!(matches!(cache.quote(&aapl()).await, Err(QuoteError::UnknownSymbol)));
    }
    assert_eq!(upstream.calls(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_waits_for_another_instances_fetch_instead_of_calling() {
    let prefix = unique_prefix();
    let clock = ManualClock::new();
    // Instance B is fetching (slowly) and holds the lock; instance A asks meanwhile.
    let slow = Upstream::new(Mode::Price(30_000), Duration::from_millis(800));
    let b = RedisQuoteCache::new(pool().await, slow.clone(), clock.clone(), config(&prefix));
    let own = Upstream::new(Mode::Price(99_900), Duration::ZERO);
    let a_pool = pool().await;
    let fetching = tokio::spawn(async move { b.quote(&aapl()).await });
    // Wait until B really holds the lock (a fixed sleep raced B on a loaded machine).
    let mut conn = a_pool.get().await.expect("conn");
    let started = std::time::Instant::now();
    while !redis::cmd("EXISTS")
        .arg(format!("{prefix}quote:{{AAPL}}:lock"))
        .query_async::<bool>(&mut *conn)
        .await
        .unwrap()
    {
        assert!(started.elapsed() < Duration::from_secs(5), "B never took the lock");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    drop(conn);
    let a = RedisQuoteCache::new(a_pool, own.clone(), clock.clone(), config(&prefix));
    let q = a.quote(&aapl()).await.expect("B's quote");
    assert_eq!(q.price, cents(30_000));
    assert_eq!(own.calls(), 0, "A waited for B's result instead of calling");
    assert_eq!(fetching.await.unwrap().unwrap().price, cents(30_000));
    assert_eq!(slow.calls(), 1);
}

#[tokio::test]
async fn a_lock_that_is_never_released_costs_a_bounded_wait_then_the_stale_quote() {
    let prefix = unique_prefix();
    let pool = pool().await;
    let clock = ManualClock::new();
    let upstream = Upstream::new(Mode::Price(30_000), Duration::ZERO);
    let cache = RedisQuoteCache::new(
        pool.clone(),
        upstream.clone(),
        clock.clone(),
        QuoteCacheConfig { wait: Duration::from_millis(200), ..config(&prefix) },
    );
    cache.quote(&aapl()).await.unwrap();
    clock.advance(Duration::from_secs(61));
    let mut conn = pool.get().await.unwrap();
    let _: () = redis::cmd("SET")
        .arg(format!("{prefix}quote:{{AAPL}}:lock"))
        .arg("stuck")
        .arg("PX")
        .arg(5_000)
        .query_async(&mut *conn)
        .await
        .unwrap();
    drop(conn);
    let started = std::time::Instant::now();
    let q = cache.quote(&aapl()).await.expect("the last known quote");
    assert!(q.stale);
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(upstream.calls(), 1);
}

#[tokio::test]
async fn an_unreadable_entry_is_a_miss() {
    let prefix = unique_prefix();
    let pool = pool().await;
    let mut conn = pool.get().await.unwrap();
    let _: () =
        redis::cmd("SET").arg(format!("{prefix}quote:{{AAPL}}")).arg("garbage").query_async(&mut *conn).await.unwrap();
    drop(conn);
    let upstream = Upstream::new(Mode::Price(5_000), Duration::ZERO);
    let cache = RedisQuoteCache::new(pool, upstream.clone(), ManualClock::new(), config(&prefix));
    assert_eq!(cache.quote(&aapl()).await.unwrap().price, cents(5_000));
    assert_eq!(upstream.calls(), 1);
}

#[tokio::test]
async fn with_redis_unreachable_quotes_still_flow_uncached() {
    let pool = bb8::Pool::builder()
        .connection_timeout(Duration::from_millis(200))
        .build_unchecked(brokerage_redis::RedisManager::new("redis://127.0.0.1:1/").unwrap());
    let upstream = Upstream::new(Mode::Price(7_700), Duration::ZERO);
    let cache = RedisQuoteCache::new(pool, upstream.clone(), ManualClock::new(), config(&unique_prefix()));
    assert_eq!(cache.quote(&aapl()).await.unwrap().price, cents(7_700));
    upstream.set(Mode::Down);
    assert!(matches!(cache.quote(&aapl()).await, Err(QuoteError::Unavailable(_))));
}
