use brokerage_domain::accounts::{Account, Activity};
use brokerage_domain::api_keys::ApiKey;
use brokerage_domain::market::Symbol;
use brokerage_domain::orders::{Booking, Execution, Order, TradeEvent};
use brokerage_domain::positions::Position;
use brokerage_domain::users::{PasswordHash, User};
use brokerage_domain::{AccountId, ActivityId, ApiKeyId, InfraError, OrderId, UserId};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

#[derive(Default)]
pub(crate) struct State {
    pub users: HashMap<UserId, (User, PasswordHash)>,
    pub user_by_email: HashMap<String, UserId>,
    pub account_by_user: HashMap<UserId, AccountId>,
    pub accounts: HashMap<AccountId, Account>,
    /// Ordered by id, which is time-ordered (UUID v7): reverse iteration is newest first.
    pub orders: BTreeMap<OrderId, Order>,
    pub client_order_ids: HashMap<(AccountId, String), OrderId>,
    pub positions: BTreeMap<(AccountId, Symbol), Position>,
    pub activities: BTreeMap<ActivityId, Activity>,
    /// Sealed TOTP secret and last used step, per user.
    pub totp: HashMap<UserId, (Option<String>, Option<i64>)>,
    /// Keys with their sealed secret and whether they are revoked.
    pub api_keys: BTreeMap<ApiKeyId, (ApiKey, String, bool)>,
    /// Fills, keyed `(order id, seq)` like Postgres' primary key.
    pub executions: BTreeMap<(OrderId, u32), Execution>,
    /// The trade-update outbox, per account, in cursor order.
    pub events: HashMap<AccountId, Vec<TradeEvent>>,
    /// Funding-provider event ids already credited.
    pub funding_events: HashSet<String>,
    /// What each request key of an account created (see `Order::request_key`).
    pub request_keys: HashMap<(AccountId, String), Keyed>,
}

/// What a request key created.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Keyed {
    Order(OrderId),
    Activity(ActivityId),
}

impl State {
    /// The account's position in `symbol`, or an empty one to fill.
    pub fn position_or_empty(&self, account: AccountId, symbol: &Symbol) -> Position {
        self.positions
            .get(&(account, symbol.clone()))
            .cloned()
            .unwrap_or_else(|| Position::empty(account, symbol.clone()))
    }

    /// Writes a booking. Callers hold the one lock and checked every rule first (the booking
    /// is the result of a pure domain function), so this cannot fail half-way.
    pub fn write(&mut self, booking: &Booking) -> Result<(), InfraError> {
        for e in &booking.executions {
            if self.executions.contains_key(&(e.order_id, e.seq)) {
                return Err(InfraError::Unknown(anyhow::anyhow!("fill {} #{} booked twice", e.order_id, e.seq)));
            }
        }
        for order in &booking.orders {
            if let Some(key) = &order.request_key {
                self.request_keys.insert((order.account_id, key.clone()), Keyed::Order(order.id));
            }
            if let Some(c) = &order.client_order_id {
                self.client_order_ids.insert((order.account_id, c.as_str().to_owned()), order.id);
            }
            self.orders.insert(order.id, order.clone());
        }
        for e in &booking.executions {
            self.executions.insert((e.order_id, e.seq), e.clone());
        }
        for a in &booking.activities {
            self.activities.insert(a.id, a.clone());
        }
        self.events.entry(booking.account.id).or_default().extend(booking.events.iter().cloned());
        self.accounts.insert(booking.account.id, booking.account.clone());
        self.put_position(booking.position.clone());
        Ok(())
    }

    /// Writes back a position, removing it when no shares remain.
    pub fn put_position(&mut self, position: Position) {
        let key = (position.account_id, position.symbol.clone());
        if position.qty.is_zero() {
            self.positions.remove(&key);
        } else {
            self.positions.insert(key, position);
        }
    }
}

/// All in-memory state; cheap to clone (shared).
#[derive(Clone, Default)]
pub struct MemoryStore {
    state: Arc<Mutex<State>>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    pub(crate) fn lock(&self) -> Result<MutexGuard<'_, State>, InfraError> {
        // A poisoned lock means a panic mid-update: refuse to serve possibly torn state.
        self.state.lock().map_err(|_| InfraError::Unknown(anyhow::anyhow!("memory store lock poisoned")))
    }
}
