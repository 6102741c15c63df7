use super::booking::{Booking, Tick};
use super::events::TradeEvent;
use super::models::{ClientOrderId, Order, OrderFilter};
use super::settlement::{Fill, SettlementError};
use super::triggers::Candidates;
use crate::error::InfraError;
use crate::ids::{AccountId, OrderId};
use crate::market::Symbol;
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
    /// The account already placed an order for this `request_key`: nothing changed; here it is.
    #[error("already placed for this request key")]
    AlreadyPlaced(Box<Order>),
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

#[derive(Debug, thiserror::Error)]
pub enum ReplaceStoreError {
    #[error("order not found")]
    NotFound,
    #[error("client_order_id already used by this account")]
    DuplicateClientOrderId,
    #[error(transparent)]
    Rejected(#[from] SettlementError),
    #[error(transparent)]
    Infra(#[from] InfraError),
}

#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait OrderStore: Send + Sync {
    /// Stores `order` with its reservation and what `after` does, as
    /// [`booking::place`](super::booking::place) computes on the account and position
    /// locked for the purpose; the whole [`Booking`] (orders, balances, position, activities
    /// with their journal postings, fills, events) is written in ONE atomic step that
    /// excludes every other change to the account. Nothing is stored when any step fails.
    /// MUST return `StoreOrderError::Rejected` with the settlement's error when it refuses,
    /// `DuplicateClientOrderId` when the account already used the order's client id,
    /// `AlreadyPlaced` with the stored order (changing nothing) when the account already used
    /// the order's `request_key`, and `AccountNotFound` for an unknown account.
    async fn place(&self, order: &Order, hold: Money, after: &AfterPlace) -> Result<Order, StoreOrderError>;

    /// Cancels an open order of `account` with [`booking::cancel`](super::booking::cancel),
    /// atomically.
    /// MUST return `CancelStoreError::NotFound` when the order does not exist or belongs to
    /// another account, and `Rejected(Transition(NotOpen))` when it is no longer open.
    async fn cancel(&self, account: AccountId, id: OrderId, at: DateTime<Utc>) -> Result<Order, CancelStoreError>;

    /// Replaces the open order `old` of `account` by `new` with
    /// [`booking::replace`](super::booking::replace), atomically: both or neither.
    /// MUST return `NotFound` like `cancel`, `Rejected(Transition(NotOpen))` when `old` is no
    /// longer open, `Rejected` with the settlement's error when `new` cannot be reserved, and
    /// `DuplicateClientOrderId` when `new`'s client id is taken.
    async fn replace(
        &self,
        account: AccountId,
        old: OrderId,
        new: &Order,
        hold: Money,
        after: &AfterPlace,
    ) -> Result<Order, ReplaceStoreError>;

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

/// The execution engine's view of the book. Every instance runs an engine; `execute` makes
/// sure each order is worked by one of them at a time and each fill is booked once.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait ExecutionStore: Send + Sync {
    /// Symbols with at least one open order.
    async fn open_symbols(&self) -> Result<Vec<Symbol>, InfraError>;

    /// Open orders in `symbol` after `after` in id order, at most `limit`, among them every
    /// one for which [`Candidates::may_act`] holds (others may be left out, and should be: a
    /// pass then reads what the quote touches, not the whole resting book): an unlocked
    /// snapshot to decide which orders are worth locking.
    async fn open_orders(
        &self,
        symbol: &Symbol,
        candidates: &Candidates,
        after: Option<OrderId>,
        limit: usize,
    ) -> Result<Vec<Order>, InfraError>;

    /// Locks order `id` unless another worker holds it (then `Ok(None)`, at once: never
    /// wait), then its account and position, runs [`booking::execute`](super::booking::execute)
    /// on the fresh rows and writes the booking atomically. Returns the booking (empty when
    /// nothing changed). Lock order: order → account → position, as `cancel` and `replace`.
    async fn execute(&self, id: OrderId, tick: &Tick) -> Result<Option<Booking>, InfraError>;
}

/// The trade-update outbox.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait EventStore: Send + Sync {
    /// Events of `account` with `seq > after`, in `seq` order, at most `limit`.
    async fn events_after(&self, account: AccountId, after: u64, limit: usize) -> Result<Vec<TradeEvent>, InfraError>;

    /// The account's latest event cursor (0 before any event).
    async fn last_event_seq(&self, account: AccountId) -> Result<u64, InfraError>;
}
