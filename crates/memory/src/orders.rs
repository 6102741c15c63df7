use crate::state::MemoryStore;
use async_trait::async_trait;
use brokerage_domain::orders::settlement::{self, SettlementError};
use brokerage_domain::orders::{
    AfterPlace, CancelStoreError, ClientOrderId, Order, OrderFilter, OrderStatus, OrderStore, StoreOrderError,
    TransitionError,
};
use brokerage_domain::values::Money;
use brokerage_domain::{AccountId, InfraError, OrderId, Page, PageRequest};
use chrono::{DateTime, Utc};

#[async_trait]
impl OrderStore for MemoryStore {
    async fn place(&self, order: &Order, hold: Money, after: &AfterPlace) -> Result<Order, StoreOrderError> {
        let mut s = self.lock()?;
        let client_key = order.client_order_id.as_ref().map(|c| (order.account_id, c.as_str().to_owned()));
        if client_key.as_ref().is_some_and(|k| s.client_order_ids.contains_key(k)) {
            return Err(StoreOrderError::DuplicateClientOrderId);
        }
        // Work on copies and commit only when every step succeeded: all or nothing.
        let mut account = s.accounts.get(&order.account_id).cloned().ok_or(StoreOrderError::AccountNotFound)?;
        let mut position = s.position_or_empty(order.account_id, &order.symbol);
        let mut order = order.clone();
        settlement::reserve(&mut order, &mut account, &mut position, hold)?;
        let activity = match after {
            AfterPlace::Fill(fill) => Some(settlement::fill(&mut order, &mut account, &mut position, fill)?),
            AfterPlace::Cancel(at) => {
                settlement::release(&mut order, &mut account, &mut position, OrderStatus::Canceled, *at)?;
                None
            }
            AfterPlace::Rest => None,
        };
        if let Some(key) = client_key {
            s.client_order_ids.insert(key, order.id);
        }
        if let Some(activity) = activity {
            s.activities.insert(activity.id, activity);
        }
        s.accounts.insert(account.id, account);
        s.put_position(position);
        s.orders.insert(order.id, order.clone());
        Ok(order)
    }

    async fn cancel(&self, account: AccountId, id: OrderId, at: DateTime<Utc>) -> Result<Order, CancelStoreError> {
        let mut s = self.lock()?;
        let mut order =
            s.orders.get(&id).filter(|o| o.account_id == account).cloned().ok_or(CancelStoreError::NotFound)?;
        if !order.status.is_open() {
            return Err(SettlementError::Transition(TransitionError::NotOpen).into());
        }
        let mut acct = s.accounts.get(&account).cloned().ok_or(CancelStoreError::NotFound)?;
        let mut position = s.position_or_empty(account, &order.symbol);
        settlement::release(&mut order, &mut acct, &mut position, OrderStatus::Canceled, at)?;
        s.accounts.insert(acct.id, acct);
        s.put_position(position);
        s.orders.insert(order.id, order.clone());
        Ok(order)
    }

    async fn get(&self, id: OrderId) -> Result<Option<Order>, InfraError> {
        Ok(self.lock()?.orders.get(&id).cloned())
    }

    async fn get_by_client_id(
        &self,
        account: AccountId,
        client_order_id: &ClientOrderId,
    ) -> Result<Option<Order>, InfraError> {
        let s = self.lock()?;
        let id = s.client_order_ids.get(&(account, client_order_id.as_str().to_owned()));
        Ok(id.and_then(|id| s.orders.get(id)).cloned())
    }

    async fn list(
        &self,
        account: Option<AccountId>,
        filter: &OrderFilter,
        page: &PageRequest<OrderId>,
    ) -> Result<Page<Order, OrderId>, InfraError> {
        let s = self.lock()?;
        let items = s
            .orders
            .values()
            .rev()
            .filter(|o| account.is_none_or(|a| o.account_id == a))
            .filter(|o| page.after.is_none_or(|after| o.id < after))
            .filter(|o| filter.matches(o))
            .take(page.fetch_limit())
            .cloned()
            .collect();
        Ok(page.into_page(items, |o| o.id))
    }
}
