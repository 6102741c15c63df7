use crate::state::MemoryStore;
use async_trait::async_trait;
use brokerage_domain::accounts::{Account, AccountStore, Activity, ActivityFilter, LedgerStore, MoveCashError};
use brokerage_domain::{AccountId, ActivityId, InfraError, Page, PageRequest};

#[async_trait]
impl AccountStore for MemoryStore {
    async fn get(&self, id: AccountId) -> Result<Option<Account>, InfraError> {
        Ok(self.lock()?.accounts.get(&id).cloned())
    }

    async fn move_cash(&self, activity: &Activity) -> Result<Account, MoveCashError> {
        let mut s = self.lock()?;
        let account = s.accounts.get_mut(&activity.account_id).ok_or(MoveCashError::NotFound)?;
        // `move_cash` leaves the account untouched when it refuses.
        account.move_cash(activity.amount)?;
        let updated = account.clone();
        s.activities.insert(activity.id, activity.clone());
        Ok(updated)
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
}
