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
            MoveCashError::AlreadyApplied(a) => FundsError::Infra(InfraError::Unknown(anyhow::anyhow!(
                "activity {} already applied for this request key",
                a.id
            ))),
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

/// The account with every position valued, and P&L.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Portfolio {
    pub view: AccountView,
    pub unrealized_pl: Money,
    pub realized_pl: Money,
    pub positions: Vec<PositionView>,
}

/// A deposit the funding provider announced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FundingEvent {
    pub event_id: String,
    pub account_id: AccountId,
    pub amount: Amount,
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
        Ok(self.valued(who).await?.0)
    }

    /// The caller's account, positions and P&L.
    #[tracing::instrument(skip_all, fields(account.id = %who.account_id))]
    pub async fn portfolio(&self, who: &Principal) -> Result<Portfolio, ReadError> {
        let (view, positions) = self.valued(who).await?;
        let unrealized_pl = positions
            .iter()
            .try_fold(Money::ZERO, |acc, p| acc.checked_add(p.unrealized_pl))
            .map_err(|e| InfraError::Unknown(anyhow::anyhow!("unrealized P&L out of range: {e}")))?;
        let realized_pl = self.ledger.realized_pl(who.account_id).await?;
        Ok(Portfolio { view, unrealized_pl, realized_pl, positions })
    }

    /// Credits a signed funding-provider deposit once per event id (`Ok(false)`: already
    /// credited). The caller has verified the provider's signature.
    #[tracing::instrument(skip_all, fields(account.id = %event.account_id, funding.event_id = %event.event_id))]
    pub async fn credit_funding(&self, event: &FundingEvent) -> Result<bool, FundsError> {
        let activity = Activity::deposit(self.new_activity_id(), event.account_id, event.amount, self.clock.now());
        let credited = self.accounts.credit_funding(&event.event_id, &activity).await?;
        tracing::info!(credited, "funding event");
        Ok(credited)
    }

    /// The whole book's invariant violations (none when sound).
    pub async fn audit(&self) -> Result<Vec<String>, InfraError> {
        self.ledger.audit().await
    }

    async fn valued(&self, who: &Principal) -> Result<(AccountView, Vec<PositionView>), ReadError> {
        who.require(Permission::ReadOwn)?;
        let (account, positions) = self.positions.book(who.account_id).await?.ok_or(ReadError::NotFound)?;
        let valued: Vec<PositionView> = self.valuer.value_all(positions).await;
        let long_market_value = valued
            .iter()
            .try_fold(Money::ZERO, |acc, p| acc.checked_add(p.market_value))
            .map_err(|e| InfraError::Unknown(anyhow::anyhow!("market value out of range: {e}")))?;
        let equity = account
            .cash
            .checked_add(long_market_value)
            .map_err(|e| InfraError::Unknown(anyhow::anyhow!("equity out of range: {e}")))?;
        Ok((AccountView { buying_power: account.buying_power(), long_market_value, equity, account }, valued))
    }

    #[tracing::instrument(skip_all, fields(account.id = %who.account_id))]
    pub async fn deposit(&self, who: &Principal, amount: Amount) -> Result<Activity, FundsError> {
        self.deposit_keyed(who, amount, None).await
    }

    #[tracing::instrument(skip_all, fields(account.id = %who.account_id))]
    pub async fn withdraw(&self, who: &Principal, amount: Amount) -> Result<Activity, FundsError> {
        self.withdraw_keyed(who, amount, None).await
    }

    /// [`Self::deposit`] for a request carrying an `Idempotency-Key`: at most one deposit per key
    /// and account, even when retried after a crash lost the recorded answer.
    pub async fn deposit_keyed(
        &self,
        who: &Principal,
        amount: Amount,
        request_key: Option<String>,
    ) -> Result<Activity, FundsError> {
        who.require(Permission::MoveFunds)?;
        let activity = Activity::deposit(self.new_activity_id(), who.account_id, amount, self.clock.now());
        self.apply(Activity { request_key, ..activity }).await
    }

    /// [`Self::withdraw`] for a request carrying an `Idempotency-Key` (see [`Self::deposit_keyed`]).
    pub async fn withdraw_keyed(
        &self,
        who: &Principal,
        amount: Amount,
        request_key: Option<String>,
    ) -> Result<Activity, FundsError> {
        who.require(Permission::MoveFunds)?;
        let activity = Activity::withdrawal(self.new_activity_id(), who.account_id, amount, self.clock.now());
        self.apply(Activity { request_key, ..activity }).await
    }

    async fn apply(&self, activity: Activity) -> Result<Activity, FundsError> {
        match self.accounts.move_cash(&activity).await {
            Ok(_) => Ok(activity),
            Err(MoveCashError::AlreadyApplied(existing)) => {
                tracing::info!(activity.id = %existing.id, "cash already moved for this request key");
                Ok(*existing)
            }
            Err(e) => Err(e.into()),
        }
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
