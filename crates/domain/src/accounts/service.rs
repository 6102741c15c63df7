use super::models::{Account, Activity, ActivityFilter, CashError};
use super::ports::{AccountStore, LedgerStore, MoveCashError};
use crate::error::InfraError;
use crate::ids::{AccountId, ActivityId};
use crate::paging::{Page, PageRequest};
use crate::positions::{PositionStore, PositionValuer, PositionView};
use crate::rbac::{Forbidden, Permission, Principal};
use crate::system::{Clock, IdGenerator};
use crate::values::{Amount, Money};
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum FundsError {
    #[error(transparent)]
    Forbidden(#[from] Forbidden),
    #[error("account not found")]
    NotFound,
    #[error("not enough free cash")]
    InsufficientFunds,
    #[error("the account is not active")]
    AccountNotActive,
    #[error("the resulting balance is out of range")]
    OutOfRange,
    #[error(transparent)]
    Infra(#[from] InfraError),
}

impl From<MoveCashError> for FundsError {
    fn from(e: MoveCashError) -> Self {
        match e {
            MoveCashError::NotFound => FundsError::NotFound,
            MoveCashError::Rejected(CashError::Insufficient) => FundsError::InsufficientFunds,
            MoveCashError::Rejected(CashError::NotActive) => FundsError::AccountNotActive,
            MoveCashError::Rejected(CashError::OutOfRange(_)) => FundsError::OutOfRange,
            MoveCashError::Infra(e) => FundsError::Infra(e),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error(transparent)]
    Forbidden(#[from] Forbidden),
    #[error("not found")]
    NotFound,
    #[error(transparent)]
    Infra(#[from] InfraError),
}

/// An account with its market valuation, as clients see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountView {
    pub account: Account,
    pub buying_power: Money,
    pub long_market_value: Money,
    pub equity: Money,
}

/// Balances, deposits, withdrawals and the activity ledger.
#[derive(Clone)]
pub struct AccountService {
    accounts: Arc<dyn AccountStore>,
    ledger: Arc<dyn LedgerStore>,
    positions: Arc<dyn PositionStore>,
    valuer: PositionValuer,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGenerator>,
}

impl AccountService {
    pub fn new(
        accounts: Arc<dyn AccountStore>,
        ledger: Arc<dyn LedgerStore>,
        positions: Arc<dyn PositionStore>,
        valuer: PositionValuer,
        clock: Arc<dyn Clock>,
        ids: Arc<dyn IdGenerator>,
    ) -> Self {
        Self { accounts, ledger, positions, valuer, clock, ids }
    }

    /// The caller's account, valued at current quotes.
    #[tracing::instrument(skip_all, fields(account.id = %who.account_id))]
    pub async fn account(&self, who: &Principal) -> Result<AccountView, ReadError> {
        who.require(Permission::ReadOwn)?;
        let account = self.accounts.get(who.account_id).await?.ok_or(ReadError::NotFound)?;
        let positions = self.positions.all(who.account_id).await?;
        let valued: Vec<PositionView> = self.valuer.value_all(positions).await;
        let long_market_value = valued
            .iter()
            .try_fold(Money::ZERO, |acc, p| acc.checked_add(p.market_value))
            .map_err(|e| InfraError::Unknown(anyhow::anyhow!("market value out of range: {e}")))?;
        let equity = account
            .cash
            .checked_add(long_market_value)
            .map_err(|e| InfraError::Unknown(anyhow::anyhow!("equity out of range: {e}")))?;
        Ok(AccountView { buying_power: account.buying_power(), long_market_value, equity, account })
    }

    #[tracing::instrument(skip_all, fields(account.id = %who.account_id))]
    pub async fn deposit(&self, who: &Principal, amount: Amount) -> Result<Activity, FundsError> {
        who.require(Permission::MoveFunds)?;
        let activity = Activity::deposit(self.new_activity_id(), who.account_id, amount, self.clock.now());
        self.accounts.move_cash(&activity).await?;
        Ok(activity)
    }

    #[tracing::instrument(skip_all, fields(account.id = %who.account_id))]
    pub async fn withdraw(&self, who: &Principal, amount: Amount) -> Result<Activity, FundsError> {
        who.require(Permission::MoveFunds)?;
        let activity = Activity::withdrawal(self.new_activity_id(), who.account_id, amount, self.clock.now());
        self.accounts.move_cash(&activity).await?;
        Ok(activity)
    }

    pub async fn activities(
        &self,
        who: &Principal,
        filter: &ActivityFilter,
        page: &PageRequest<ActivityId>,
    ) -> Result<Page<Activity, ActivityId>, ReadError> {
        who.require(Permission::ReadOwn)?;
        Ok(self.ledger.activities(who.account_id, filter, page).await?)
    }

    fn new_activity_id(&self) -> ActivityId {
        ActivityId::from_uuid(self.ids.new_id())
    }

    /// For support tools: another account, if the caller may read it.
    pub async fn account_by_id(&self, who: &Principal, id: AccountId) -> Result<Account, ReadError> {
        if !who.may_read(id) {
            return Err(ReadError::NotFound);
        }
        self.accounts.get(id).await?.ok_or(ReadError::NotFound)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::ActivityKind;
    use crate::accounts::ports::MockAccountStore;
    use crate::accounts::ports::MockLedgerStore;
    use crate::market::MockQuoteProvider;
    use crate::positions::MockPositionStore;
    use crate::system::{SystemClock, UuidV7Generator};
    use crate::users::Role;
    use rust_decimal::Decimal;

    fn who(role: Role) -> Principal {
        Principal::for_tests(role)
    }

    fn service(accounts: MockAccountStore) -> AccountService {
        AccountService::new(
            Arc::new(accounts),
            Arc::new(MockLedgerStore::new()),
            Arc::new(MockPositionStore::new()),
            PositionValuer::new(Arc::new(MockQuoteProvider::new())),
            Arc::new(SystemClock),
            Arc::new(UuidV7Generator),
        )
    }

    #[tokio::test]
    async fn a_withdrawal_is_recorded_as_a_negative_amount_on_the_callers_account() {
        let caller = who(Role::Customer);
        let account_id = caller.account_id;
        let mut accounts = MockAccountStore::new();
        accounts
            .expect_move_cash()
            .withf(move |a| {
                a.account_id == account_id && a.kind == ActivityKind::Withdrawal && a.amount.get() == Decimal::from(-25)
            })
            .times(1)
            .returning(|_| Err(MoveCashError::Rejected(CashError::Insufficient)));
        let err = service(accounts).withdraw(&caller, Amount::new(Decimal::from(25)).expect("valid")).await;
        assert!(matches!(err, Err(FundsError::InsufficientFunds)));
    }

    #[tokio::test]
    async fn support_cannot_move_funds() {
        let err = service(MockAccountStore::new())
            .deposit(&who(Role::Support), Amount::new(Decimal::ONE).expect("valid"))
            .await;
        assert!(matches!(err, Err(FundsError::Forbidden(_))));
    }
}
