use super::models::Position;
use crate::error::InfraError;
use crate::ids::AccountId;
use crate::market::Symbol;
use crate::paging::{Page, PageRequest};
use async_trait::async_trait;

#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait PositionStore: Send + Sync {
    /// The account's open positions, by symbol.
    async fn list(&self, account: AccountId, page: &PageRequest<Symbol>) -> Result<Page<Position, Symbol>, InfraError>;

    /// Every open position of the account (for valuation).
    async fn all(&self, account: AccountId) -> Result<Vec<Position>, InfraError>;

    async fn get(&self, account: AccountId, symbol: &Symbol) -> Result<Option<Position>, InfraError>;
}
