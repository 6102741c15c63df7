use super::models::{ClientOrderId, Order, OrderFilter};
use super::settlement::{Fill, SettlementError};
use crate::error::InfraError;
use crate::ids::{AccountId, OrderId};
use crate::paging::{Page, PageRequest};
use crate::values::Money;
use async_trait::async_trait;
use chrono::{DateTime, Utc};

/// What to do right after storing a new order, with the data the adapter cannot make itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AfterPlace {
    Fill(Fill),
    Cancel(DateTime<Utc>),
    Rest,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreOrderError {
    #[error("account not found")]
    AccountNotFound,
    #[error("client_order_id already used by this account")]
    DuplicateClientOrderId,
    #[error(transparent)]
    Rejected(#[from] SettlementError),
    #[error(transparent)]
    Infra(#[from] InfraError),
}

#[derive(Debug, thiserror::Error)]
pub enum CancelStoreError {
    #[error("order not found")]
    NotFound,
    #[error(transparent)]
    Rejected(#[from] SettlementError),
    #[error(transparent)]
    Infra(#[from] InfraError),
}

#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait OrderStore: Send + Sync {
    /// Stores `order` and reserves `hold` (buys) or its shares (sells) with
    /// [`settlement::reserve`](super::settlement::reserve), then runs `after` (a fill with
    /// [`settlement::fill`](super::settlement::fill), or a cancel with
    /// [`settlement::release`](super::settlement::release)), all in ONE atomic step that
    /// excludes every other change to the account. Nothing is stored when any step fails.
    /// MUST return `StoreOrderError::Rejected` with the settlement's error when it refuses,
    /// `DuplicateClientOrderId` when the account already used the order's client id and
    /// `AccountNotFound` for an unknown account.
    async fn place(&self, order: &Order, hold: Money, after: &AfterPlace) -> Result<Order, StoreOrderError>;

    /// Cancels an open order of `account` and releases its reservation, atomically.
    /// MUST return `CancelStoreError::NotFound` when the order does not exist or belongs to
    /// another account, and `Rejected(Transition(NotOpen))` when it is no longer open.
    async fn cancel(&self, account: AccountId, id: OrderId, at: DateTime<Utc>) -> Result<Order, CancelStoreError>;

    async fn get(&self, id: OrderId) -> Result<Option<Order>, InfraError>;

    async fn get_by_client_id(
        &self,
        account: AccountId,
        client_order_id: &ClientOrderId,
    ) -> Result<Option<Order>, InfraError>;

    /// Orders of `account` (or of every account when `None`), newest first.
    async fn list(
        &self,
        account: Option<AccountId>,
        filter: &OrderFilter,
        page: &PageRequest<OrderId>,
    ) -> Result<Page<Order, OrderId>, InfraError>;
}
