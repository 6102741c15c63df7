//! What can go wrong talking to a market-data provider, typed so that resilience (retry or
//! not, count against the breaker or not) and the domain's `QuoteError` follow from the kind.

use brokerage_domain::market::QuoteError;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MarketDataError {
    /// The provider does not list the symbol (`{"Global Quote": {}}`).
    #[error("the provider does not know this symbol")]
    UnknownSymbol,
    /// The provider asked us to slow down (a `Note` or a rate-limit `Information` body, HTTP
    /// 429), or our own outbound call budget is spent for this window.
    #[error("throttled: {0}")]
    Throttled(String),
    /// The provider refused the call (`Error Message`, any other `Information`, a 4xx).
    #[error("the provider refused the call: {0}")]
    Provider(String),
    /// The provider answered with a server error (5xx).
    #[error("the provider answered HTTP {0}")]
    Status(u16),
    /// No complete answer within the per-call timeout.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The connection failed or broke (refused, reset, DNS).
    #[error("could not reach the provider: {0}")]
    Transport(String),
    /// The answer is not the shape the provider documents.
    #[error("malformed answer: {0}")]
    Malformed(String),
    /// The circuit breaker is open: no call was made.
    #[error("the circuit breaker is open")]
    CircuitOpen,
}

impl MarketDataError {
    /// Worth another attempt right away: a transient failure of one call. Throttling is not
    /// (the next attempt in the same minute spends budget to be refused again), nor is a
    /// refusal or a malformed answer (the same request gets the same answer).
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Timeout(_) | Self::Transport(_) | Self::Status(_))
    }

    /// Counts against the circuit breaker: the provider is unhealthy or pushing back. An
    /// unknown symbol or a refused request is a healthy provider answering.
    pub fn is_failure(&self) -> bool {
        matches!(
            self,
            Self::Throttled(_) | Self::Status(_) | Self::Timeout(_) | Self::Transport(_) | Self::Malformed(_)
        )
    }
}

impl From<MarketDataError> for QuoteError {
    fn from(e: MarketDataError) -> Self {
        match e {
            MarketDataError::UnknownSymbol => QuoteError::UnknownSymbol,
            other => QuoteError::Unavailable(anyhow::Error::new(other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_transient_failures_are_retried_and_only_unhealthy_answers_trip_the_breaker() {
        let all = [
            MarketDataError::UnknownSymbol,
            MarketDataError::Throttled("Note".into()),
            MarketDataError::Provider("Error Message".into()),
            MarketDataError::Status(500),
            MarketDataError::Timeout(Duration::from_secs(1)),
            MarketDataError::Transport("refused".into()),
            MarketDataError::Malformed("not JSON".into()),
            MarketDataError::CircuitOpen,
        ];
        let retried: Vec<_> = all.iter().filter(|e| e.is_retryable()).collect();
        assert_eq!(retried.len(), 3, "{retried:?}");
        let failures: Vec<_> = all.iter().filter(|e| e.is_failure()).collect();
        assert_eq!(failures.len(), 5, "{failures:?}");
    }

    #[test]
    fn only_an_unknown_symbol_is_a_business_answer_the_rest_is_unavailable() {
        assert!(matches!(QuoteError::from(MarketDataError::UnknownSymbol), QuoteError::UnknownSymbol));
        let e = QuoteError::from(MarketDataError::Throttled("Note".into()));
        assert!(matches!(&e, QuoteError::Unavailable(cause) if cause.to_string().contains("throttled")), "{e:?}");
    }
}
