//! Quotes.

use brokerage_domain::market::{MarketClock, Quote};
use chrono::{DateTime, Utc};
use serde::Serialize;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct QuoteResponse {
    pub symbol: String,
    pub price: String,
    pub bid: String,
    pub ask: String,
    pub as_of: DateTime<Utc>,
    pub source: &'static str,
    /// Served from cache while the provider is failing.
    pub stale: bool,
}

impl From<Quote> for QuoteResponse {
    fn from(q: Quote) -> Self {
        Self {
            symbol: q.symbol.to_string(),
            price: q.price.to_string(),
            bid: q.bid.to_string(),
            ask: q.ask.to_string(),
            as_of: q.as_of,
            source: q.source,
            stale: q.stale,
        }
    }
}

/// The market clock (times in UTC).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ClockResponse {
    pub is_open: bool,
    /// The next session's open; now when the market is always open (the simulated market).
    pub next_open: Option<DateTime<Utc>>,
    /// The current session's close when open, else the next one's; `null` when always open.
    pub next_close: Option<DateTime<Utc>>,
    pub timestamp: DateTime<Utc>,
}

impl From<MarketClock> for ClockResponse {
    fn from(c: MarketClock) -> Self {
        Self { is_open: c.is_open, next_open: c.next_open, next_close: c.next_close, timestamp: c.timestamp }
    }
}
