use super::models::{Quote, Symbol};
use async_trait::async_trait;

#[derive(Debug, thiserror::Error)]
pub enum QuoteError {
    #[error("unknown symbol")]
    UnknownSymbol,
    #[error("market data unavailable")]
    Unavailable(#[source] anyhow::Error),
}

#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait QuoteProvider: Send + Sync {
    /// The latest quote. MUST return `QuoteError::UnknownSymbol` for a symbol the provider
    /// does not list and `QuoteError::Unavailable` when it cannot answer now. A cache in front
    /// of a failing provider MAY instead answer its last known quote with `stale: true`.
    async fn quote(&self, symbol: &Symbol) -> Result<Quote, QuoteError>;
}
