use crate::state::MemoryStore;
use async_trait::async_trait;
use brokerage_domain::accounts::Account;
use brokerage_domain::market::Symbol;
use brokerage_domain::positions::{Position, PositionStore};
use brokerage_domain::{AccountId, InfraError, Page, PageRequest};

#[async_trait]
impl PositionStore for MemoryStore {
    async fn list(&self, account: AccountId, page: &PageRequest<Symbol>) -> Result<Page<Position, Symbol>, InfraError> {
        let s = self.lock()?;
        let items = s
            .positions
            .values()
            .filter(|p| p.account_id == account)
            .filter(|p| page.after.as_ref().is_none_or(|after| p.symbol > *after))
            .take(page.fetch_limit())
            .cloned()
            .collect();
        Ok(page.into_page(items, |p| p.symbol.clone()))
    }

    async fn get(&self, account: AccountId, symbol: &Symbol) -> Result<Option<Position>, InfraError> {
        Ok(self.lock()?.positions.get(&(account, symbol.clone())).cloned())
    }

    async fn book(&self, account: AccountId) -> Result<Option<(Account, Vec<Position>)>, InfraError> {
        let s = self.lock()?;
        Ok(s.accounts
            .get(&account)
            .map(|a| (a.clone(), s.positions.values().filter(|p| p.account_id == account).cloned().collect())))
    }
}
