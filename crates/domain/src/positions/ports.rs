use super::models::Position;
use crate::accounts::Account;
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

    async fn get(&self, account: AccountId, symbol: &Symbol) -> Result<Option<Position>, InfraError>;

    /// The account and every open position of it (by symbol), read in ONE snapshot, so that
    /// cash and shares never come from either side of a fill; `None` for an unknown account.
    async fn book(&self, account: AccountId) -> Result<Option<(Account, Vec<Position>)>, InfraError>;
}
