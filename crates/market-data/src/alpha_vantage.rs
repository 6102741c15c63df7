//! The Alpha Vantage client: `GLOBAL_QUOTE` for quotes, `TIME_SERIES_INTRADAY` for recent
//! bars, every call through [`Resilient`] (breaker, shared budget, timeout, retries).
//!
//! Alpha Vantage answers most failures with HTTP 200 and a body that is not the data:
//!
//! | body | meaning | error |
//! |---|---|---|
//! | `{"Global Quote": {}}` | no such symbol | `UnknownSymbol` |
//! | `{"Note": "...call frequency..."}` | per-minute limit hit (older wording) | `Throttled` |
//! | `{"Information": "...rate limit..."}` | daily/minute limit hit | `Throttled` |
//! | `{"Information": "..."}` (anything else, e.g. premium endpoint, demo key) | refused | `Provider` |
//! | `{"Error Message": "Invalid API call..."}` | bad parameters, bad key | `Provider` |
//!
//! Numbers are strings (`"05. price": "219.7800"`), parsed as decimals, never floats.
//!
//! **Bid and ask.** `GLOBAL_QUOTE` has a last price but no bid/ask. The quote is given a
//! narrow synthetic spread: `bid = price − h`, `ask = price + h` with `h` = 1 basis point of
//! the price, at least $0.01 (rounded up to 4 places), the same rule as the simulated market.
//! Buys then fill at or a little above the last trade and sells at or a little below, as
//! they would against a real book.
//!
//! **`as_of`** is when the provider answered: `GLOBAL_QUOTE` only says which trading day
//! its price belongs to (`"07. latest trading day"`).
//!
//! The API key travels in the query string, so no URL is ever logged or put in an error:
//! transport errors are stripped of theirs (`reqwest::Error::without_url`).

use crate::breaker::{BreakerConfig, CircuitBreaker};
use crate::error::MarketDataError;
use crate::resilience::{CallBudget, CallPolicy, Resilient};
use async_trait::async_trait;
use brokerage_domain::Clock;
use brokerage_domain::market::{Quote, QuoteError, QuoteProvider, Symbol};
use brokerage_domain::values::{PRICE_SCALE, Price};
use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, TimeZone, Utc, Weekday};
use reqwest::{StatusCode, Url};
use rust_decimal::{Decimal, RoundingStrategy};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value};
use std::str::FromStr;
use std::sync::Arc;

/// The `source` of quotes from this provider.
pub const SOURCE: &str = "alpha_vantage";

/// Half the synthetic spread, in basis points of the price.
const HALF_SPREAD_BP: i64 = 1;

/// Longest provider message kept in an error (they are logged, never shown to clients).
const MAX_MESSAGE: usize = 200;

pub struct AlphaVantageConfig {
    /// `https://www.alphavantage.co` in production; a local fake in tests.
    pub base_url: String,
    pub api_key: SecretString,
    pub policy: CallPolicy,
    pub breaker: BreakerConfig,
}

/// Bar widths `TIME_SERIES_INTRADAY` offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BarInterval {
    OneMinute,
    FiveMinutes,
    FifteenMinutes,
    ThirtyMinutes,
    SixtyMinutes,
}

impl BarInterval {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::OneMinute => "1min",
            Self::FiveMinutes => "5min",
            Self::FifteenMinutes => "15min",
            Self::ThirtyMinutes => "30min",
            Self::SixtyMinutes => "60min",
        }
    }
}

/// One intraday bar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bar {
    /// When the bar starts, converted from the exchange's time zone.
    pub start: DateTime<Utc>,
    pub open: Price,
    pub high: Price,
    pub low: Price,
    pub close: Price,
    pub volume: u64,
}

pub struct AlphaVantage {
    http: reqwest::Client,
    endpoint: Url,
    api_key: SecretString,
    clock: Arc<dyn Clock>,
    resilient: Resilient,
}

impl AlphaVantage {
    /// A client with its own circuit breaker; `budget` (shared by every instance) caps the
    /// calls per minute.
    pub fn new(config: AlphaVantageConfig, clock: Arc<dyn Clock>, budget: Option<CallBudget>) -> anyhow::Result<Self> {
        let mut base = Url::parse(&config.base_url)
            .map_err(|e| anyhow::anyhow!("BROKERAGE__MARKET_DATA__BASE_URL is not a URL: {e}"))?;
        anyhow::ensure!(
            matches!(base.scheme(), "http" | "https") && base.query().is_none(),
            "BROKERAGE__MARKET_DATA__BASE_URL must be an http(s) URL without a query"
        );
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        let endpoint = base.join("query")?;
        let http = reqwest::Client::builder()
            .connect_timeout(config.policy.timeout)
            .user_agent(concat!("brokerage/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| anyhow::anyhow!("could not build the market-data HTTP client: {}", e.without_url()))?;
        let breaker = Arc::new(CircuitBreaker::new(config.breaker, clock.clone()));
        Ok(Self {
            http,
            endpoint,
            api_key: config.api_key,
            clock,
            resilient: Resilient::new(breaker, config.policy, budget),
        })
    }

    /// The breaker guarding this provider (for readiness and metrics).
    pub fn breaker(&self) -> Arc<CircuitBreaker> {
        self.resilient.breaker().clone()
    }

    /// The call policy (a cache sizes its fetch lock from [`CallPolicy::worst_case`]).
    pub fn policy(&self) -> CallPolicy {
        *self.resilient.policy()
    }

    /// The latest quote, with a synthetic spread (see the module documentation).
    #[tracing::instrument(name = "alpha_vantage.global_quote", skip_all, fields(market.symbol = %symbol))]
    pub async fn fetch_quote(&self, symbol: &Symbol) -> Result<Quote, MarketDataError> {
        let params = [("function", "GLOBAL_QUOTE"), ("symbol", symbol.as_str())];
        let body = self.resilient.call(|| self.get(&params)).await?;
        parse_global_quote(&body, symbol, self.clock.now())
    }

    /// Today's (or the last trading day's) intraday bars, oldest first.
    #[tracing::instrument(name = "alpha_vantage.intraday", skip_all, fields(market.symbol = %symbol))]
    pub async fn bars(&self, symbol: &Symbol, interval: BarInterval) -> Result<Vec<Bar>, MarketDataError> {
        let params =
            [("function", "TIME_SERIES_INTRADAY"), ("symbol", symbol.as_str()), ("interval", interval.as_str())];
        let body = self.resilient.call(|| self.get(&params)).await?;
        parse_intraday(&body, interval)
    }

    /// One GET of the query endpoint: the JSON object, or the error its status or body says.
    async fn get(&self, params: &[(&str, &str)]) -> Result<Map<String, Value>, MarketDataError> {
        let mut url = self.endpoint.clone();
        url.query_pairs_mut().extend_pairs(params).append_pair("apikey", self.api_key.expose_secret());
        let transport = |e| transport(e, self.resilient.policy().timeout);
        let response = self.http.get(url).send().await.map_err(transport)?;
        let status = response.status();
        let body = response.bytes().await.map_err(transport)?;
        if status == StatusCode::TOO_MANY_REQUESTS {
            return Err(MarketDataError::Throttled("HTTP 429".to_owned()));
        }
        if status.is_server_error() {
            return Err(MarketDataError::Status(status.as_u16()));
        }
        if !status.is_success() {
            return Err(MarketDataError::Provider(format!("HTTP {}", status.as_u16())));
        }
        parse_body(&body)
    }
}

#[async_trait]
impl QuoteProvider for AlphaVantage {
    async fn quote(&self, symbol: &Symbol) -> Result<Quote, QuoteError> {
        self.fetch_quote(symbol).await.map_err(|e| {
            if e != MarketDataError::UnknownSymbol {
                tracing::warn!(error = %e, market.symbol = %symbol, "alpha vantage quote failed");
            }
            QuoteError::from(e)
        })
    }
}

/// A transport failure, without the URL (it holds the API key).
fn transport(e: reqwest::Error, timeout: std::time::Duration) -> MarketDataError {
    let e = e.without_url();
    if e.is_timeout() {
        return MarketDataError::Timeout(timeout);
    }
    let mut message = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    MarketDataError::Transport(message)
}

fn shorten(message: &str) -> String {
    match message.char_indices().nth(MAX_MESSAGE) {
        Some((at, _)) => format!("{}…", &message[..at]),
        None => message.to_owned(),
    }
}

/// The body as a JSON object, or the error an error-shaped body stands for.
pub(crate) fn parse_body(bytes: &[u8]) -> Result<Map<String, Value>, MarketDataError> {
    let value: Value =
        serde_json::from_slice(bytes).map_err(|e| MarketDataError::Malformed(format!("not JSON ({e})")))?;
    let Value::Object(body) = value else {
        return Err(MarketDataError::Malformed("not a JSON object".to_owned()));
    };
    let text = |key: &str| body.get(key).and_then(Value::as_str).map(shorten);
    if let Some(message) = text("Error Message") {
        return Err(MarketDataError::Provider(message));
    }
    if let Some(message) = text("Note") {
        return Err(MarketDataError::Throttled(message));
    }
    if let Some(message) = text("Information") {
        let lower = message.to_ascii_lowercase();
        let throttled = ["rate limit", "call frequency", "requests per", "calls per"].iter().any(|p| lower.contains(p));
        return Err(if throttled { MarketDataError::Throttled(message) } else { MarketDataError::Provider(message) });
    }
    Ok(body)
}

fn field<'a>(object: &'a Map<String, Value>, key: &str) -> Result<&'a str, MarketDataError> {
    object.get(key).and_then(Value::as_str).ok_or_else(|| MarketDataError::Malformed(format!("no \"{key}\"")))
}

fn price_field(object: &Map<String, Value>, key: &str) -> Result<Price, MarketDataError> {
    let raw = field(object, key)?;
    let value = Decimal::from_str(raw.trim())
        .map_err(|_| MarketDataError::Malformed(format!("\"{key}\" is not a number: {}", shorten(raw))))?;
    price(value).map_err(|e| MarketDataError::Malformed(format!("\"{key}\" {e}")))
}

fn price(value: Decimal) -> Result<Price, brokerage_domain::values::ValueError> {
    Price::new(value.round_dp_with_strategy(PRICE_SCALE, RoundingStrategy::MidpointNearestEven))
}

/// `BRK.B` and `BRK-B` name the same share class.
fn same_symbol(a: &str, b: &str) -> bool {
    let norm = |s: &str| s.trim().to_ascii_uppercase().replace('-', ".");
    norm(a) == norm(b)
}

pub(crate) fn parse_global_quote(
    body: &Map<String, Value>,
    symbol: &Symbol,
    now: DateTime<Utc>,
) -> Result<Quote, MarketDataError> {
    let quote = body
        .get("Global Quote")
        .and_then(Value::as_object)
        .ok_or_else(|| MarketDataError::Malformed("no \"Global Quote\" object".to_owned()))?;
    if quote.is_empty() {
        return Err(MarketDataError::UnknownSymbol);
    }
    let answered_for = field(quote, "01. symbol")?;
    if !same_symbol(answered_for, symbol.as_str()) {
        return Err(MarketDataError::Malformed(format!("asked for {symbol}, answered for {}", shorten(answered_for))));
    }
    let last = price_field(quote, "05. price")?;
    let (bid, ask) = spread(last).map_err(|e| MarketDataError::Malformed(format!("no spread around {last}: {e}")))?;
    Ok(Quote { symbol: symbol.clone(), price: last, bid, ask, as_of: now, source: SOURCE, stale: false, max_age: None })
}

/// `(bid, ask)` around a last price: see the module documentation.
pub(crate) fn spread(last: Price) -> Result<(Price, Price), brokerage_domain::values::ValueError> {
    let p = last.get();
    let half = (p * Decimal::new(HALF_SPREAD_BP, 4))
        .round_dp_with_strategy(PRICE_SCALE, RoundingStrategy::AwayFromZero)
        .max(Decimal::new(1, 2));
    let floor = Decimal::new(1, PRICE_SCALE);
    Ok((Price::new((p - half).max(floor))?, Price::new(p + half)?))
}

pub(crate) fn parse_intraday(body: &Map<String, Value>, interval: BarInterval) -> Result<Vec<Bar>, MarketDataError> {
    let meta = body
        .get("Meta Data")
        .and_then(Value::as_object)
        .ok_or_else(|| MarketDataError::Malformed("no \"Meta Data\" object".to_owned()))?;
    let zone = field(meta, "6. Time Zone")?;
    let to_utc: fn(NaiveDateTime) -> Option<DateTime<Utc>> = match zone {
        "US/Eastern" | "America/New_York" => eastern_to_utc,
        "UTC" => |t| Some(Utc.from_utc_datetime(&t)),
        other => return Err(MarketDataError::Malformed(format!("unexpected time zone {}", shorten(other)))),
    };
    let key = format!("Time Series ({})", interval.as_str());
    let series = body
        .get(&key)
        .and_then(Value::as_object)
        .ok_or_else(|| MarketDataError::Malformed(format!("no \"{key}\" object")))?;
    let mut bars = series
        .iter()
        .map(|(at, values)| {
            let values =
                values.as_object().ok_or_else(|| MarketDataError::Malformed(format!("bar {at} is not an object")))?;
            let start = NaiveDateTime::parse_from_str(at, "%Y-%m-%d %H:%M:%S")
                .ok()
                .and_then(to_utc)
                .ok_or_else(|| MarketDataError::Malformed(format!("bad bar time {}", shorten(at))))?;
            let volume = field(values, "5. volume")?;
            Ok(Bar {
                start,
                open: price_field(values, "1. open")?,
                high: price_field(values, "2. high")?,
                low: price_field(values, "3. low")?,
                close: price_field(values, "4. close")?,
                volume: volume
                    .trim()
                    .parse()
                    .map_err(|_| MarketDataError::Malformed(format!("bad volume {}", shorten(volume))))?,
            })
        })
        .collect::<Result<Vec<_>, MarketDataError>>()?;
    bars.sort_by_key(|b| b.start);
    Ok(bars)
}

/// US Eastern wall-clock time to UTC: daylight time (UTC−4) from 02:00 on the second Sunday
/// of March to 02:00 on the first Sunday of November, standard time (UTC−5) otherwise (the
/// rules since 2007). The repeated hour in November is read as daylight time.
pub(crate) fn eastern_to_utc(local: NaiveDateTime) -> Option<DateTime<Utc>> {
    let year = local.year();
    let starts = NaiveDate::from_weekday_of_month_opt(year, 3, Weekday::Sun, 2)?.and_hms_opt(2, 0, 0)?;
    let ends = NaiveDate::from_weekday_of_month_opt(year, 11, Weekday::Sun, 1)?.and_hms_opt(2, 0, 0)?;
    let behind_utc = if local >= starts && local < ends { 4 } else { 5 };
    Some(Utc.from_utc_datetime(&local.checked_add_signed(chrono::Duration::hours(behind_utc))?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).expect("decimal")
    }

    fn object(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => panic!("an object"),
        }
    }

    #[test]
    fn the_spread_is_one_basis_point_each_side_and_at_least_a_cent() {
        let p = |s: &str| Price::new(d(s)).expect("valid");
        let (bid, ask) = spread(p("219.78")).expect("spread");
        assert_eq!((bid.to_string(), ask.to_string()), ("219.758".to_owned(), "219.802".to_owned()));
        let (bid, ask) = spread(p("42.5")).expect("spread");
        assert_eq!((bid.get(), ask.get()), (d("42.49"), d("42.51")), "a cent at least");
        let (bid, ask) = spread(p("1000.00")).expect("spread");
        assert_eq!((bid.get(), ask.get()), (d("999.9"), d("1000.1")));
        let (bid, ask) = spread(p("0.005")).expect("spread");
        assert_eq!((bid.get(), ask.get()), (d("0.0001"), d("0.015")), "the bid never reaches zero");
    }

    #[test]
    fn symbols_match_across_class_separators() {
        assert!(same_symbol("BRK-B", "BRK.B"));
        assert!(same_symbol("ibm", "IBM"));
        assert!(!same_symbol("IBM", "IBMX"));
    }

    #[test]
    fn eastern_time_follows_daylight_saving() {
        let t = |s: &str| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").expect("time");
        let utc = |s: &str| eastern_to_utc(t(s)).expect("in range").format("%Y-%m-%d %H:%M").to_string();
        assert_eq!(utc("2024-10-18 19:55:00"), "2024-10-18 23:55");
        assert_eq!(utc("2024-12-02 09:30:00"), "2024-12-02 14:30");
        assert_eq!(utc("2024-03-10 01:59:00"), "2024-03-10 06:59", "before the spring change");
        assert_eq!(utc("2024-03-10 03:00:00"), "2024-03-10 07:00", "after it");
        assert_eq!(utc("2024-11-03 02:00:00"), "2024-11-03 07:00", "after the autumn change");
    }

    #[test]
    fn intraday_bars_parse_oldest_first_in_utc() {
        let body = object(json!({
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
                "2024-10-18 19:50:00": {"1. open": "219.8000", "2. high": "220.0500", "3. low": "219.8000", "4. close": "220.0000", "5. volume": "150"}
            }
        }));
        let bars = parse_intraday(&body, BarInterval::FiveMinutes).expect("bars");
        assert_eq!(bars.len(), 2);
        assert_eq!(bars[0].start.to_rfc3339(), "2024-10-18T23:50:00+00:00");
        assert_eq!((bars[0].open.get(), bars[0].volume), (d("219.8"), 150));
        assert_eq!(bars[1].close.get(), d("219.95"));

        let wrong_interval = parse_intraday(&body, BarInterval::OneMinute);
        assert!(matches!(wrong_interval, Err(MarketDataError::Malformed(_))));
        let mut bad = body.clone();
        bad.insert("Time Series (5min)".into(), json!({"2024-10-18 19:55:00": {"1. open": "x"}}));
        assert!(matches!(parse_intraday(&bad, BarInterval::FiveMinutes), Err(MarketDataError::Malformed(_))));
    }

    #[test]
    fn error_bodies_are_typed_and_long_messages_shortened() {
        let long = "x".repeat(1000);
        let body = json!({"Information": format!("Thank you for using Alpha Vantage! Our standard API rate limit is 25 requests per day. {long}")});
        let err = parse_body(body.to_string().as_bytes());
        assert!(matches!(&err, Err(MarketDataError::Throttled(m)) if m.chars().count() <= MAX_MESSAGE + 1), "{err:?}");
        let premium = json!({"Information": "Thank you for using Alpha Vantage! This is a premium endpoint."});
        assert!(matches!(parse_body(premium.to_string().as_bytes()), Err(MarketDataError::Provider(_))));
        assert!(matches!(parse_body(b"[1, 2]"), Err(MarketDataError::Malformed(_))));
    }
}
