//! The asset list: which symbols exist, whether they may be traded, and whether in fractions.
//!
//! [`ASSET_LIST`] is the one source of the seed data: the memory adapter loads it, the
//! Postgres migration `2026-11-25-000002_assets` inserts the same rows (a test in the Postgres
//! adapter compares them), and the simulated market lists a subset of it (a test in
//! `brokerage-market-data` checks that every simulated symbol is here and tradable).

use super::models::{InvalidSymbol, Quote, Symbol};
use super::ports::{QuoteError, QuoteProvider};
use crate::error::InfraError;
use async_trait::async_trait;
use std::sync::Arc;

/// A listed instrument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Asset {
    pub symbol: Symbol,
    pub name: String,
    /// `false`: orders are refused as `unknown_symbol` (delisted, suspended).
    pub tradable: bool,
    /// `false`: only whole shares may be ordered (no fractional `qty`, no `notional`).
    pub fractionable: bool,
    /// An administrator halted trading: new orders are refused as `symbol_halted`.
    pub halted: bool,
}

/// One row of the seed list, as a constant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listing {
    pub symbol: &'static str,
    pub name: &'static str,
    pub tradable: bool,
    pub fractionable: bool,
}

impl Listing {
    pub fn to_asset(&self) -> Result<Asset, InvalidSymbol> {
        Ok(Asset {
            symbol: Symbol::parse(self.symbol)?,
            name: self.name.to_owned(),
            tradable: self.tradable,
            fractionable: self.fractionable,
            halted: false,
        })
    }
}

const fn listed(symbol: &'static str, name: &'static str) -> Listing {
    Listing { symbol, name, tradable: true, fractionable: true }
}

/// Tradable in whole shares only (leveraged and volatility products).
const fn whole_shares(symbol: &'static str, name: &'static str) -> Listing {
    Listing { symbol, name, tradable: true, fractionable: false }
}

/// Delisted: known (positions may still name them) but not tradable.
const fn delisted(symbol: &'static str, name: &'static str) -> Listing {
    Listing { symbol, name, tradable: false, fractionable: false }
}

/// US equities and ETFs the brokerage lists, sorted by symbol.
pub const ASSET_LIST: &[Listing] = &[
    listed("AAPL", "Apple Inc."),
    listed("ABBV", "AbbVie Inc."),
    listed("ABT", "Abbott Laboratories"),
    listed("ADBE", "Adobe Inc."),
    listed("AMD", "Advanced Micro Devices, Inc."),
    listed("AMZN", "Amazon.com, Inc."),
    listed("AVGO", "Broadcom Inc."),
    listed("AXP", "American Express Company"),
    listed("BA", "The Boeing Company"),
    listed("BAC", "Bank of America Corporation"),
    listed("BRK.B", "Berkshire Hathaway Inc. Class B"),
    listed("C", "Citigroup Inc."),
    listed("CAT", "Caterpillar Inc."),
    listed("CMCSA", "Comcast Corporation Class A"),
    listed("COP", "ConocoPhillips"),
    listed("COST", "Costco Wholesale Corporation"),
    listed("CRM", "Salesforce, Inc."),
    listed("CSCO", "Cisco Systems, Inc."),
    listed("CVX", "Chevron Corporation"),
    listed("DIA", "SPDR Dow Jones Industrial Average ETF Trust"),
    listed("DIS", "The Walt Disney Company"),
    listed("EEM", "iShares MSCI Emerging Markets ETF"),
    delisted("FRC", "First Republic Bank"),
    listed("GE", "GE Aerospace"),
    listed("GLD", "SPDR Gold Shares"),
    listed("GOOG", "Alphabet Inc. Class C"),
    listed("GOOGL", "Alphabet Inc. Class A"),
    listed("GS", "The Goldman Sachs Group, Inc."),
    listed("HD", "The Home Depot, Inc."),
    listed("HON", "Honeywell International Inc."),
    listed("IBM", "International Business Machines Corporation"),
    listed("INTC", "Intel Corporation"),
    listed("IWM", "iShares Russell 2000 ETF"),
    listed("JNJ", "Johnson & Johnson"),
    listed("JPM", "JPMorgan Chase & Co."),
    listed("KO", "The Coca-Cola Company"),
    listed("LLY", "Eli Lilly and Company"),
    listed("LMT", "Lockheed Martin Corporation"),
    listed("MA", "Mastercard Incorporated"),
    listed("MCD", "McDonald's Corporation"),
    listed("META", "Meta Platforms, Inc."),
    listed("MRK", "Merck & Co., Inc."),
    listed("MS", "Morgan Stanley"),
    listed("MSFT", "Microsoft Corporation"),
    listed("MU", "Micron Technology, Inc."),
    listed("NFLX", "Netflix, Inc."),
    listed("NKE", "NIKE, Inc."),
    listed("NVDA", "NVIDIA Corporation"),
    listed("ORCL", "Oracle Corporation"),
    listed("PEP", "PepsiCo, Inc."),
    listed("PFE", "Pfizer Inc."),
    listed("PG", "The Procter & Gamble Company"),
    listed("PYPL", "PayPal Holdings, Inc."),
    listed("QCOM", "QUALCOMM Incorporated"),
    listed("QQQ", "Invesco QQQ Trust, Series 1"),
    listed("SBUX", "Starbucks Corporation"),
    delisted("SIVB", "SVB Financial Group"),
    listed("SPY", "SPDR S&P 500 ETF Trust"),
    whole_shares("SQQQ", "ProShares UltraPro Short QQQ"),
    listed("T", "AT&T Inc."),
    listed("TLT", "iShares 20+ Year Treasury Bond ETF"),
    listed("TMO", "Thermo Fisher Scientific Inc."),
    whole_shares("TQQQ", "ProShares UltraPro QQQ"),
    listed("TSLA", "Tesla, Inc."),
    delisted("TWTR", "Twitter, Inc."),
    listed("TXN", "Texas Instruments Incorporated"),
    listed("UBER", "Uber Technologies, Inc."),
    listed("UNH", "UnitedHealth Group Incorporated"),
    listed("UPS", "United Parcel Service, Inc. Class B"),
    whole_shares("UVXY", "ProShares Ultra VIX Short-Term Futures ETF"),
    listed("V", "Visa Inc. Class A"),
    listed("VOO", "Vanguard S&P 500 ETF"),
    listed("VTI", "Vanguard Total Stock Market ETF"),
    listed("VZ", "Verizon Communications Inc."),
    listed("WFC", "Wells Fargo & Company"),
    listed("WMT", "Walmart Inc."),
    listed("XLE", "Energy Select Sector SPDR Fund"),
    listed("XLF", "Financial Select Sector SPDR Fund"),
    listed("XOM", "Exxon Mobil Corporation"),
];

/// The asset list.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait AssetStore: Send + Sync {
    /// The asset listed under `symbol`, tradable or not; `None` when no asset is.
    /// MUST return `InfraError::Unavailable` when the store cannot be reached.
    async fn get(&self, symbol: &Symbol) -> Result<Option<Asset>, InfraError>;

    /// Halts or resumes trading in `symbol`; `false` when no asset is listed under it.
    async fn set_halted(&self, symbol: &Symbol, halted: bool) -> Result<bool, InfraError>;
}

/// A [`QuoteProvider`] that answers `UnknownSymbol` for a symbol the asset list does not
/// have, without asking the provider behind it: unknown symbols cost no call of the
/// provider's small budget (a client asking for `ZZZZ` in a loop cannot starve real quotes).
/// Delisted assets are still quoted (positions in them are still valued).
pub struct ListedQuotes {
    assets: Arc<dyn AssetStore>,
    inner: Arc<dyn QuoteProvider>,
}

impl ListedQuotes {
    pub fn new(assets: Arc<dyn AssetStore>, inner: Arc<dyn QuoteProvider>) -> Self {
        Self { assets, inner }
    }
}

#[async_trait]
impl QuoteProvider for ListedQuotes {
    async fn quote(&self, symbol: &Symbol) -> Result<Quote, QuoteError> {
        match self.assets.get(symbol).await {
            Ok(Some(_)) => self.inner.quote(symbol).await,
            Ok(None) => Err(QuoteError::UnknownSymbol),
            Err(e) => Err(QuoteError::Unavailable(anyhow::Error::new(e).context("the asset list cannot be read"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::market::MockQuoteProvider;
    use crate::values::Price;
    use rust_decimal::Decimal;

    #[test]
    fn the_list_is_sorted_unique_and_every_symbol_parses_to_itself() {
        assert!(ASSET_LIST.len() >= 50, "a realistic list");
        for pair in ASSET_LIST.windows(2) {
            assert!(pair[0].symbol < pair[1].symbol, "{} then {}", pair[0].symbol, pair[1].symbol);
        }
        for listing in ASSET_LIST {
            let asset = listing.to_asset().expect("valid symbol");
            assert_eq!(asset.symbol.as_str(), listing.symbol);
            assert!(!asset.name.is_empty());
            assert!(listing.tradable || !listing.fractionable, "{}: untradable yet fractionable", listing.symbol);
        }
    }

    fn store() -> MockAssetStore {
        let mut assets = MockAssetStore::new();
        assets.expect_get().returning(|s| {
            Ok(ASSET_LIST.iter().find(|l| l.symbol == s.as_str()).map(|l| l.to_asset().expect("valid")))
        });
        assets
    }

    fn quote(symbol: &Symbol) -> Quote {
        Quote {
            symbol: symbol.clone(),
            price: Price::new(Decimal::from(100)).expect("valid"),
            bid: Price::new(Decimal::from(99)).expect("valid"),
            ask: Price::new(Decimal::from(101)).expect("valid"),
            as_of: chrono::Utc::now(),
            source: "test",
            stale: false,
            max_age: None,
        }
    }

    #[tokio::test]
    async fn unlisted_symbols_never_reach_the_provider() {
        let mut inner = MockQuoteProvider::new();
        inner.expect_quote().times(2).returning(|s| Ok(quote(s)));
        let listed = ListedQuotes::new(Arc::new(store()), Arc::new(inner));
        let err = listed.quote(&Symbol::parse("ZZZZ").expect("valid")).await;
        assert!(matches!(err, Err(QuoteError::UnknownSymbol)));
        assert!(listed.quote(&Symbol::parse("AAPL").expect("valid")).await.is_ok());
        assert!(listed.quote(&Symbol::parse("TWTR").expect("valid")).await.is_ok(), "delisted assets are still quoted");
    }

    #[tokio::test]
    async fn an_unreadable_asset_list_makes_quotes_unavailable() {
        let mut assets = MockAssetStore::new();
        assets.expect_get().returning(|_| Err(InfraError::Unavailable(anyhow::anyhow!("down"))));
        let mut inner = MockQuoteProvider::new();
        inner.expect_quote().never();
        let listed = ListedQuotes::new(Arc::new(assets), Arc::new(inner));
        let err = listed.quote(&Symbol::parse("AAPL").expect("valid")).await;
        assert!(matches!(err, Err(QuoteError::Unavailable(_))));
    }
}
