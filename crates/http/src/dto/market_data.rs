//! Quotes.

use brokerage_domain::market::Quote;
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
