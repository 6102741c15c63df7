use brokerage_domain::accounts::{Account, Activity};
use brokerage_domain::api_keys::ApiKey;
use brokerage_domain::market::Symbol;
use brokerage_domain::orders::Order;
use brokerage_domain::positions::Position;
use brokerage_domain::users::{PasswordHash, User};
use brokerage_domain::{AccountId, ActivityId, ApiKeyId, InfraError, OrderId, UserId};
use std::collections::{BTreeMap, HashMap};
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
}

impl State {
    /// The account's position in `symbol`, or an empty one to fill.
    pub fn position_or_empty(&self, account: AccountId, symbol: &Symbol) -> Position {
        self.positions
            .get(&(account, symbol.clone()))
            .cloned()
            .unwrap_or_else(|| Position::empty(account, symbol.clone()))
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
