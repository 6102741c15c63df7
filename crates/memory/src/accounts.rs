use crate::state::{Keyed, MemoryStore};
use async_trait::async_trait;
use brokerage_domain::accounts::{
    Account, AccountStore, Activity, ActivityFilter, ActivityKind, LedgerStore, MoveCashError,
};
use brokerage_domain::ledger;
use brokerage_domain::{AccountId, ActivityId, InfraError, Money, Page, PageRequest};

#[async_trait]
impl AccountStore for MemoryStore {
    async fn get(&self, id: AccountId) -> Result<Option<Account>, InfraError> {
        Ok(self.lock()?.accounts.get(&id).cloned())
    }

    async fn move_cash(&self, activity: &Activity) -> Result<Account, MoveCashError> {
        let mut s = self.lock()?;
        if let Some(key) = &activity.request_key
            && let Some(Keyed::Activity(id)) = s.request_keys.get(&(activity.account_id, key.clone()))
            && let Some(existing) = s.activities.get(id)
        {
            return Err(MoveCashError::AlreadyApplied(Box::new(existing.clone())));
        }
        let account = s.accounts.get_mut(&activity.account_id).ok_or(MoveCashError::NotFound)?;
        // `move_cash` leaves the account untouched when it refuses.
        account.move_cash(activity.amount)?;
        let updated = account.clone();
        if let Some(key) = &activity.request_key {
            s.request_keys.insert((activity.account_id, key.clone()), Keyed::Activity(activity.id));
        }
        s.activities.insert(activity.id, activity.clone());
        Ok(updated)
    }

    async fn credit_funding(&self, event_id: &str, activity: &Activity) -> Result<bool, MoveCashError> {
        let mut s = self.lock()?;
        if s.funding_events.contains(event_id) {
            return Ok(false);
        }
        let account = s.accounts.get_mut(&activity.account_id).ok_or(MoveCashError::NotFound)?;
        account.move_cash(activity.amount)?;
        s.activities.insert(activity.id, activity.clone());
        s.funding_events.insert(event_id.to_owned());
        Ok(true)
    }
}

#[async_trait]
impl LedgerStore for MemoryStore {
    async fn activities(
        &self,
        account: AccountId,
        filter: &ActivityFilter,
        page: &PageRequest<ActivityId>,
    ) -> Result<Page<Activity, ActivityId>, InfraError> {
        let s = self.lock()?;
        let items = s
            .activities
            .values()
            .rev()
            .filter(|a| a.account_id == account)
            .filter(|a| page.after.is_none_or(|after| a.id < after))
            .filter(|a| filter.kind.is_none_or(|k| a.kind == k))
            .take(page.fetch_limit())
            .cloned()
            .collect();
        Ok(page.into_page(items, |a| a.id))
    }

    async fn realized_pl(&self, account: AccountId) -> Result<Money, InfraError> {
        let s = self.lock()?;
        s.activities
            .values()
            .filter(|a| a.account_id == account)
            .filter_map(|a| a.trade.as_ref().and_then(|t| t.realized_pl).filter(|_| a.kind == ActivityKind::Fill))
            .try_fold(Money::ZERO, Money::checked_add)
            .map_err(|e| InfraError::Unknown(anyhow::anyhow!("realized P&L out of range: {e}")))
    }

    async fn audit(&self) -> Result<Vec<String>, InfraError> {
        let s = self.lock()?;
        let accounts: Vec<_> = s.accounts.values().cloned().collect();
        let positions: Vec<_> = s.positions.values().cloned().collect();
        let orders: Vec<_> = s.orders.values().cloned().collect();
        let activities: Vec<_> = s.activities.values().cloned().collect();
        let executions: Vec<_> = s.executions.values().cloned().collect();
        Ok(ledger::audit(&ledger::Snapshot {
            accounts: &accounts,
            positions: &positions,
            orders: &orders,
            activities: &activities,
            executions: &executions,
        }))
    }
}
