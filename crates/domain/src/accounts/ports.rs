use super::models::{Account, Activity, ActivityFilter, CashError};
use crate::error::InfraError;
use crate::ids::{AccountId, ActivityId};
use crate::paging::{Page, PageRequest};
use async_trait::async_trait;

#[derive(Debug, thiserror::Error)]
pub enum MoveCashError {
    #[error("account not found")]
    NotFound,
    #[error(transparent)]
    Rejected(#[from] CashError),
    #[error(transparent)]
    Infra(#[from] InfraError),
}

#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait AccountStore: Send + Sync {
    async fn get(&self, id: AccountId) -> Result<Option<Account>, InfraError>;

    /// Applies a deposit or withdrawal activity with [`Account::move_cash`] and records it,
    /// in one atomic step that excludes concurrent changes to the account.
    /// MUST return `MoveCashError::NotFound` for an unknown account and
    /// `MoveCashError::Rejected` with the rule's error when `move_cash` refuses.
    async fn move_cash(&self, activity: &Activity) -> Result<Account, MoveCashError>;
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
}
