use crate::state::{Keyed, MemoryStore, State};
use async_trait::async_trait;
use brokerage_domain::market::Symbol;
use brokerage_domain::orders::booking;
use brokerage_domain::orders::settlement::SettlementError;
use brokerage_domain::orders::{
    AfterPlace, Booking, CancelStoreError, Candidates, ClientOrderId, EventStore, ExecutionStore, Order, OrderFilter,
    OrderStore, ReplaceStoreError, StoreOrderError, Tick, TradeEvent, TransitionError,
};
use brokerage_domain::values::Money;
use brokerage_domain::{AccountId, InfraError, OrderId, Page, PageRequest};
use chrono::{DateTime, Utc};

impl State {
    fn duplicate_client_id(&self, order: &Order) -> bool {
        order
            .client_order_id
            .as_ref()
            .is_some_and(|c| self.client_order_ids.contains_key(&(order.account_id, c.as_str().to_owned())))
    }

    /// An open order of `account`, or why not.
    fn own_open_order(&self, account: AccountId, id: OrderId) -> Result<Order, Option<SettlementError>> {
        let order = self.orders.get(&id).filter(|o| o.account_id == account).cloned().ok_or(None)?;
        if !order.status.is_open() {
            return Err(Some(SettlementError::Transition(TransitionError::NotOpen)));
        }
        Ok(order)
    }
}

#[async_trait]
impl OrderStore for MemoryStore {
    async fn place(&self, order: &Order, hold: Money, after: &AfterPlace) -> Result<Order, StoreOrderError> {
        let mut s = self.lock()?;
        if let Some(key) = &order.request_key
            && let Some(Keyed::Order(id)) = s.request_keys.get(&(order.account_id, key.clone()))
            && let Some(existing) = s.orders.get(id)
        {
            return Err(StoreOrderError::AlreadyPlaced(Box::new(existing.clone())));
        }
        if s.duplicate_client_id(order) {
            return Err(StoreOrderError::DuplicateClientOrderId);
        }
        let account = s.accounts.get(&order.account_id).cloned().ok_or(StoreOrderError::AccountNotFound)?;
        let position = s.position_or_empty(order.account_id, &order.symbol);
        let booking = booking::place(order.clone(), account, position, hold, after)?;
        s.write(&booking)?;
        booking
            .order(order.id)
            .cloned()
            .ok_or_else(|| InfraError::Unknown(anyhow::anyhow!("placed order not booked")).into())
    }

    async fn cancel(&self, account: AccountId, id: OrderId, at: DateTime<Utc>) -> Result<Order, CancelStoreError> {
        let mut s = self.lock()?;
        let order = s.own_open_order(account, id).map_err(|e| e.map_or(CancelStoreError::NotFound, Into::into))?;
        let acct = s.accounts.get(&account).cloned().ok_or(CancelStoreError::NotFound)?;
        let position = s.position_or_empty(account, &order.symbol);
        let booking = booking::cancel(order, acct, position, at)?;
        s.write(&booking)?;
        booking
            .order(id)
            .cloned()
            .ok_or_else(|| InfraError::Unknown(anyhow::anyhow!("canceled order not booked")).into())
    }

    async fn replace(
        &self,
        account: AccountId,
        old: OrderId,
        new: &Order,
        hold: Money,
        after: &AfterPlace,
    ) -> Result<Order, ReplaceStoreError> {
        let mut s = self.lock()?;
        let old = s.own_open_order(account, old).map_err(|e| e.map_or(ReplaceStoreError::NotFound, Into::into))?;
        if s.duplicate_client_id(new) {
            return Err(ReplaceStoreError::DuplicateClientOrderId);
        }
        let acct = s.accounts.get(&account).cloned().ok_or(ReplaceStoreError::NotFound)?;
        let position = s.position_or_empty(account, &old.symbol);
        let booking = booking::replace(old, new.clone(), acct, position, hold, after)?;
        s.write(&booking)?;
        booking
            .order(new.id)
            .cloned()
            .ok_or_else(|| InfraError::Unknown(anyhow::anyhow!("new order not booked")).into())
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

#[async_trait]
impl ExecutionStore for MemoryStore {
    async fn open_symbols(&self) -> Result<Vec<Symbol>, InfraError> {
        let s = self.lock()?;
        let mut symbols: Vec<Symbol> =
            s.orders.values().filter(|o| o.status.is_open()).map(|o| o.symbol.clone()).collect();
        symbols.sort();
        symbols.dedup();
        Ok(symbols)
    }

    async fn open_orders(
        &self,
        symbol: &Symbol,
        candidates: &Candidates,
        after: Option<OrderId>,
        limit: usize,
    ) -> Result<Vec<Order>, InfraError> {
        let s = self.lock()?;
        Ok(s.orders
            .values()
            .filter(|o| o.status.is_open() && o.symbol == *symbol && after.is_none_or(|a| o.id > a))
            .filter(|o| candidates.may_act(o))
            .take(limit)
            .cloned()
            .collect())
    }

    async fn execute(&self, id: OrderId, tick: &Tick) -> Result<Option<Booking>, InfraError> {
        // One mutex: no other worker can hold the order, so nothing is ever skipped here.
        let mut s = self.lock()?;
        let Some(order) = s.orders.get(&id).cloned() else { return Ok(None) };
        let account = s
            .accounts
            .get(&order.account_id)
            .cloned()
            .ok_or_else(|| InfraError::Unknown(anyhow::anyhow!("order {id} has no account")))?;
        let position = s.position_or_empty(order.account_id, &order.symbol);
        let booking = booking::execute(order, account, position, tick)
            .map_err(|e| InfraError::Unknown(anyhow::anyhow!("execution of {id} refused: {e}")))?;
        if !booking.is_empty() {
            s.write(&booking)?;
        }
        Ok(Some(booking))
    }
}

#[async_trait]
impl EventStore for MemoryStore {
    async fn events_after(&self, account: AccountId, after: u64, limit: usize) -> Result<Vec<TradeEvent>, InfraError> {
        let s = self.lock()?;
        Ok(s.events
            .get(&account)
            .map(|events| events.iter().filter(|e| e.seq > after).take(limit).cloned().collect())
            .unwrap_or_default())
    }

    async fn last_event_seq(&self, account: AccountId) -> Result<u64, InfraError> {
        Ok(self.lock()?.accounts.get(&account).map_or(0, |a| a.event_seq))
    }
}
