use super::models::{Account, Activity, ActivityFilter, CashError};
use crate::error::InfraError;
use crate::ids::{AccountId, ActivityId};
use crate::paging::{Page, PageRequest};
use crate::values::Money;
use async_trait::async_trait;

#[derive(Debug, thiserror::Error)]
pub enum MoveCashError {
    #[error("account not found")]
    NotFound,
    #[error(transparent)]
    Rejected(#[from] CashError),
    /// The account already moved cash for this `request_key`: nothing changed; here is that
    /// movement.
    #[error("already applied for this request key")]
    AlreadyApplied(Box<Activity>),
    #[error(transparent)]
    Infra(#[from] InfraError),
}

#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait AccountStore: Send + Sync {
    async fn get(&self, id: AccountId) -> Result<Option<Account>, InfraError>;

    /// Applies a deposit or withdrawal activity with [`Account::move_cash`] and records it,
    /// in one atomic step that excludes concurrent changes to the account.
    /// MUST return `MoveCashError::NotFound` for an unknown account,
    /// `MoveCashError::Rejected` with the rule's error when `move_cash` refuses, and
    /// `MoveCashError::AlreadyApplied` with the stored movement (changing nothing) when the
    /// activity's `request_key` was already used by the account.
    async fn move_cash(&self, activity: &Activity) -> Result<Account, MoveCashError>;

    /// Credits a deposit announced by the funding provider under its `event_id`, once:
    /// `Ok(false)` (and nothing changes) when that event was already credited. The check
    /// and the credit are one atomic step.
    async fn credit_funding(&self, event_id: &str, activity: &Activity) -> Result<bool, MoveCashError>;
}

/// The account activity ledger (read side).
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait LedgerStore: Send + Sync {
    /// The account's activities, newest first.
    async fn activities(
        &self,
        account: AccountId,
        filter: &ActivityFilter,
        page: &PageRequest<ActivityId>,
    ) -> Result<Page<Activity, ActivityId>, InfraError>;

    /// Realised P&L of the account over its whole history: the sum of its sell fills'
    /// `realized_pl`.
    async fn realized_pl(&self, account: AccountId) -> Result<Money, InfraError>;

    /// Checks the invariants of the whole book ([`crate::ledger::audit`]'s list) and
    /// describes every violation; empty when the book is sound.
    async fn audit(&self) -> Result<Vec<String>, InfraError>;
}
