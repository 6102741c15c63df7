//! The Alpha Vantage client against a local fake provider (wiremock) that answers with the
//! provider's real response shapes, error shapes included.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use brokerage_domain::Clock;
use brokerage_domain::market::{QuoteError, QuoteProvider, Symbol};
use brokerage_market_data::{
    AlphaVantage, AlphaVantageConfig, BarInterval, BreakerConfig, BreakerState, CallPolicy, MarketDataError,
};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const KEY: &str = "test-key-do-not-log";

struct ManualClock(AtomicI64);

impl ManualClock {
    fn advance(&self, by: Duration) {
        self.0.fetch_add(i64::try_from(by.as_millis()).unwrap(), Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(self.0.load(Ordering::SeqCst)).unwrap()
    }
}

struct Fake {
    server: MockServer,
    clock: Arc<ManualClock>,
    client: AlphaVantage,
}

const TIMEOUT: Duration = Duration::from_millis(300);

async fn fake() -> Fake {
    let server = MockServer::start().await;
    let clock = Arc::new(ManualClock(AtomicI64::new(1_729_000_000_000)));
    let client = AlphaVantage::new(
        AlphaVantageConfig {
            base_url: server.uri(),
            api_key: KEY.to_owned().into(),
            policy: CallPolicy {
                timeout: TIMEOUT,
                max_attempts: 3,
                backoff_base: Duration::from_millis(5),
                backoff_max: Duration::from_millis(20),
            },
            breaker: BreakerConfig { failure_threshold: 3, cool_down: Duration::from_secs(30) },
        },
        clock.clone(),
        None,
    )
    .expect("client");
    Fake { server, clock, client }
}

fn ibm() -> Symbol {
    Symbol::parse("IBM").unwrap()
}

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

/// A recorded `GLOBAL_QUOTE` answer.
fn global_quote(symbol: &str, price: &str) -> Value {
    json!({
        "Global Quote": {
            "01. symbol": symbol,
            "02. open": "218.3500",
            "03. high": "219.9000",
            "04. low": "217.4600",
            "05. price": price,
            "06. volume": "3117345",
            "07. latest trading day": "2024-10-18",
            "08. previous close": "218.0400",
            "09. change": "1.7400",
            "10. change percent": "0.7980%"
        }
    })
}

const NOTE: &str = "Thank you for using Alpha Vantage! Our standard API call frequency is 5 calls per minute and 500 calls per day. Please visit https://www.alphavantage.co/premium/ if you would like to target a higher API call frequency.";
const INFORMATION: &str = "Thank you for using Alpha Vantage! Our standard API rate limit is 25 requests per day. Please subscribe to any of the premium plans at https://www.alphavantage.co/premium/ to instantly remove all daily rate limits.";
const ERROR_MESSAGE: &str = "Invalid API call. Please retry or visit the documentation (https://www.alphavantage.co/documentation/) for GLOBAL_QUOTE.";

async fn answer(f: &Fake, response: ResponseTemplate) {
    Mock::given(method("GET")).and(path("/query")).respond_with(response).mount(&f.server).await;
}

async fn requests(f: &Fake) -> usize {
    f.server.received_requests().await.map_or(0, |r| r.len())
}

/// The typed error of one quote call, checked to never carry the API key.
async fn quote_error(f: &Fake) -> MarketDataError {
    let err = f.client.fetch_quote(&ibm()).await.expect_err("an error");
    assert!(!format!("{err} {err:?}").contains(KEY), "the API key leaked into {err:?}");
    err
}

#[tokio::test]
async fn a_good_quote_is_parsed_from_string_numbers_with_a_spread_around_the_price() {
    let f = fake().await;
    Mock::given(method("GET"))
        .and(path("/query"))
        .and(query_param("function", "GLOBAL_QUOTE"))
        .and(query_param("symbol", "IBM"))
        .and(query_param("apikey", KEY))
        .respond_with(ResponseTemplate::new(200).set_body_json(global_quote("IBM", "219.7800")))
        .expect(1)
        .mount(&f.server)
        .await;
    let q = f.client.quote(&ibm()).await.expect("a quote");
    assert_eq!(q.symbol, ibm());
    assert_eq!(q.price.get(), d("219.78"));
    assert!(q.bid < q.price && q.price < q.ask, "{q:?}");
    assert_eq!((q.source, q.stale, q.max_age, q.as_of), ("alpha_vantage", false, None, f.clock.now()));
}

#[tokio::test]
async fn an_unknown_symbol_is_an_empty_global_quote() {
    let f = fake().await;
    answer(&f, ResponseTemplate::new(200).set_body_json(json!({"Global Quote": {}}))).await;
    assert_eq!(quote_error(&f).await, MarketDataError::UnknownSymbol);
    assert!(matches!(f.client.quote(&ibm()).await, Err(QuoteError::UnknownSymbol)));
    assert_eq!(requests(&f).await, 2, "not retried");
    assert_eq!(f.client.breaker().state(), BreakerState::Closed, "a healthy answer");
}

#[tokio::test]
async fn a_note_is_throttling_and_is_not_retried() {
    let f = fake().await;
    answer(&f, ResponseTemplate::new(200).set_body_json(json!({ "Note": NOTE }))).await;
    assert!(matches!(quote_error(&f).await, MarketDataError::Throttled(m) if m.contains("call frequency")));
    assert_eq!(requests(&f).await, 1);
    assert!(matches!(f.client.quote(&ibm()).await, Err(QuoteError::Unavailable(_))));
}

#[tokio::test]
async fn a_rate_limit_information_is_throttling() {
    let f = fake().await;
    answer(&f, ResponseTemplate::new(200).set_body_json(json!({ "Information": INFORMATION }))).await;
    assert!(matches!(quote_error(&f).await, MarketDataError::Throttled(m) if m.contains("rate limit")));
    assert_eq!(requests(&f).await, 1);
}

#[tokio::test]
async fn an_error_message_is_a_provider_error_and_not_a_breaker_failure() {
    let f = fake().await;
    answer(&f, ResponseTemplate::new(200).set_body_json(json!({ "Error Message": ERROR_MESSAGE }))).await;
    for _ in 0..5 {
        assert!(matches!(quote_error(&f).await, MarketDataError::Provider(m) if m.starts_with("Invalid API call")));
    }
    assert_eq!(requests(&f).await, 5, "never retried");
    assert_eq!(f.client.breaker().state(), BreakerState::Closed);
    assert!(matches!(f.client.quote(&ibm()).await, Err(QuoteError::Unavailable(_))));
}

#[tokio::test]
async fn a_server_error_is_retried_up_to_the_attempt_limit() {
    let f = fake().await;
    answer(&f, ResponseTemplate::new(500).set_body_string("<html>Internal Server Error</html>")).await;
    assert_eq!(quote_error(&f).await, MarketDataError::Status(500));
    assert_eq!(requests(&f).await, 3);
}

#[tokio::test]
async fn a_retry_recovers_from_one_server_error() {
    let f = fake().await;
    Mock::given(method("GET"))
        .and(path("/query"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .mount(&f.server)
        .await;
    answer(&f, ResponseTemplate::new(200).set_body_json(global_quote("IBM", "219.7800"))).await;
    assert_eq!(f.client.fetch_quote(&ibm()).await.expect("the retry succeeds").price.get(), d("219.78"));
    assert_eq!(requests(&f).await, 2);
}

#[tokio::test]
async fn a_hang_past_the_timeout_is_a_timeout() {
    let f = fake().await;
    answer(&f, ResponseTemplate::new(200).set_body_json(global_quote("IBM", "1.0")).set_delay(Duration::from_secs(5)))
        .await;
    let started = std::time::Instant::now();
    assert_eq!(quote_error(&f).await, MarketDataError::Timeout(TIMEOUT));
    assert!(started.elapsed() < Duration::from_secs(3), "three attempts of 300 ms, not the 5 s hang");
    assert!(matches!(f.client.quote(&ibm()).await, Err(QuoteError::Unavailable(_))));
}

#[tokio::test]
async fn malformed_answers_are_malformed_not_panics() {
    for body in [
        "{\"Global Quote\": {\"01. symbol\": \"IBM\", \"05. price\": ",
        "<html>maintenance</html>",
        "{\"Global Quote\": {\"01. symbol\": \"IBM\", \"05. price\": \"abc\"}}",
        "{\"Global Quote\": {\"01. symbol\": \"IBM\", \"05. price\": \"-3.0\"}}",
        "{\"Global Quote\": {\"01. symbol\": \"IBM\"}}",
        "{\"Global Quote\": {\"01. symbol\": \"MSFT\", \"05. price\": \"420.0\"}}",
        "{\"Global Quote\": []}",
        "{}",
        "[]",
    ] {
        let f = fake().await;
        answer(&f, ResponseTemplate::new(200).set_body_string(body)).await;
        assert!(matches!(quote_error(&f).await, MarketDataError::Malformed(_)), "{body}");
        assert_eq!(requests(&f).await, 1, "{body}: not retried");
    }
}

#[tokio::test]
async fn a_refused_connection_is_a_transport_error_without_the_key() {
    let f = fake().await;
    // A port nobody listens on (wiremock keeps its servers alive in a pool).
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let uri = format!("http://{closed}");
    let client = AlphaVantage::new(
        AlphaVantageConfig {
            base_url: uri,
            api_key: KEY.to_owned().into(),
            policy: CallPolicy { max_attempts: 1, ..CallPolicy::default() },
            breaker: BreakerConfig::default(),
        },
        f.clock.clone(),
        None,
    )
    .expect("client");
    let err = client.fetch_quote(&ibm()).await.expect_err("nobody listens");
    assert!(matches!(&err, MarketDataError::Transport(_)), "{err:?}");
    assert!(!format!("{err} {err:?}").contains(KEY));
}

#[tokio::test]
async fn after_n_failures_no_call_is_made_until_the_cool_down_then_one_probe_closes_the_breaker() {
    let f = fake().await;
    Mock::given(method("GET"))
        .and(path("/query"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "Note": NOTE })))
        .up_to_n_times(3)
        .mount(&f.server)
        .await;
    answer(&f, ResponseTemplate::new(200).set_body_json(global_quote("IBM", "219.7800"))).await;

    for _ in 0..3 {
        assert!(matches!(quote_error(&f).await, MarketDataError::Throttled(_)));
    }
    assert_eq!(f.client.breaker().state(), BreakerState::Open);
    for _ in 0..10 {
        assert_eq!(quote_error(&f).await, MarketDataError::CircuitOpen);
    }
    f.clock.advance(Duration::from_secs(29));
    assert_eq!(quote_error(&f).await, MarketDataError::CircuitOpen);
    assert_eq!(requests(&f).await, 3, "no upstream call while open");

    f.clock.advance(Duration::from_secs(1));
    assert_eq!(f.client.breaker().state(), BreakerState::HalfOpen);
    f.client.fetch_quote(&ibm()).await.expect("the probe succeeds");
    assert_eq!(requests(&f).await, 4, "one probe");
    assert_eq!(f.client.breaker().state(), BreakerState::Closed);
}

#[tokio::test]
async fn intraday_bars_come_from_time_series_intraday() {
    let f = fake().await;
    Mock::given(method("GET"))
        .and(path("/query"))
        .and(query_param("function", "TIME_SERIES_INTRADAY"))
        .and(query_param("symbol", "IBM"))
        .and(query_param("interval", "5min"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "Meta Data": {
                "1. Information": "Intraday (5min) open, high, low, close prices and volume",
                "2. Symbol": "IBM",
                "3. Last Refreshed": "2024-10-18 19:55:00",
                "4. Interval": "5min",
                "5. Output Size": "Compact",
                "6. Time Zone": "US/Eastern"
            },
            "Time Series (5min)": {
                "2024-10-18 19:55:00": {"1. open": "220.0000", "2. high": "220.0000", "3. low": "219.9000", "4. close": "219.9500", "5. volume": "22"},
                "2024-10-18 19:50:00": {"1. open": "219.8000", "2. high": "220.0500", "3. low": "219.8000", "4. close": "220.0000", "5. volume": "150"},
                "2024-10-18 19:45:00": {"1. open": "219.7000", "2. high": "219.8500", "3. low": "219.6500", "4. close": "219.8000", "5. volume": "310"}
            }
        })))
        .mount(&f.server)
        .await;
    let bars = f.client.bars(&ibm(), BarInterval::FiveMinutes).await.expect("bars");
    assert_eq!(bars.len(), 3);
    assert!(bars.windows(2).all(|w| w[0].start < w[1].start), "oldest first");
    assert_eq!(bars[2].start.to_rfc3339(), "2024-10-18T23:55:00+00:00");
    assert_eq!((bars[0].high.get(), bars[0].volume), (d("219.85"), 310));
}

#[tokio::test]
async fn intraday_errors_are_typed_too() {
    let f = fake().await;
    answer(&f, ResponseTemplate::new(200).set_body_json(json!({ "Error Message": "Invalid API call. Please retry or visit the documentation (https://www.alphavantage.co/documentation/) for TIME_SERIES_INTRADAY." }))).await;
    let err = f.client.bars(&Symbol::parse("ZZZZ").unwrap(), BarInterval::OneMinute).await;
    assert!(matches!(err, Err(MarketDataError::Provider(_))), "{err:?}");
}

#[test]
fn a_base_url_must_be_http() {
    let config = |url: &str| AlphaVantageConfig {
        base_url: url.to_owned(),
        api_key: KEY.to_owned().into(),
        policy: CallPolicy::default(),
        breaker: BreakerConfig::default(),
    };
    let clock = Arc::new(ManualClock(AtomicI64::new(0)));
    assert!(AlphaVantage::new(config("ftp://example.com"), clock.clone(), None).is_err());
    assert!(AlphaVantage::new(config("not a url"), clock.clone(), None).is_err());
    assert!(AlphaVantage::new(config("https://www.alphavantage.co"), clock, None).is_ok());
}
