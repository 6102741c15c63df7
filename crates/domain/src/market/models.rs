use crate::values::Price;
use chrono::{DateTime, Utc};
use std::fmt;
use std::time::Duration;

/// A ticker symbol: 1 to 10 characters, upper-case letters, digits, `.` or `-`, starting
/// with a letter (`AAPL`, `BRK.B`). Input is upper-cased first.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Symbol(String);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("must be 1 to 10 characters: letters, digits, '.' or '-', starting with a letter")]
pub struct InvalidSymbol;

impl Symbol {
    pub fn parse(raw: &str) -> Result<Self, InvalidSymbol> {
        let s = raw.trim().to_ascii_uppercase();
        let mut chars = s.chars();
        let first_ok = chars.next().is_some_and(|c| c.is_ascii_uppercase());
        let rest_ok = chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '.' || c == '-');
        if first_ok && rest_ok && s.len() <= 10 { Ok(Self(s)) } else { Err(InvalidSymbol) }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Symbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The latest price of a symbol. Buys fill at `ask`, sells at `bid`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quote {
    pub symbol: Symbol,
    pub price: Price,
    pub bid: Price,
    pub ask: Price,
    pub as_of: DateTime<Utc>,
    /// Which provider answered (`simulated`, `alpha_vantage`).
    pub source: &'static str,
    /// Served from cache while the provider is failing.
    pub stale: bool,
    /// How much longer this quote stays fresh in the quote cache: what
    /// `Cache-Control: max-age` says. `None` when no cache stands behind it (the provider
    /// answered just now and may answer differently a second later); zero when `stale`.
    pub max_age: Option<Duration>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symbols_are_upper_cased_and_checked() {
        assert_eq!(Symbol::parse("brk.b").map(|s| s.to_string()), Ok("BRK.B".into()));
        for bad in ["", "1ABC", "TOOLONGSYMB", "AA PL", "AAPL;", "ÄPPLE"] {
            assert_eq!(Symbol::parse(bad), Err(InvalidSymbol), "{bad:?}");
        }
    }
}
