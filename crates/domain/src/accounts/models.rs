use crate::ids::{AccountId, ActivityId, OrderId, UserId};
use crate::market::Symbol;
use crate::orders::Side;
use crate::values::{Amount, Money, Price, Quantity, ValueError};
use chrono::{DateTime, Utc};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountStatus {
    Active,
    Restricted,
    Closed,
}

impl AccountStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            AccountStatus::Active => "active",
            AccountStatus::Restricted => "restricted",
            AccountStatus::Closed => "closed",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [AccountStatus::Active, AccountStatus::Restricted, AccountStatus::Closed]
            .into_iter()
            .find(|s| s.as_str() == raw)
    }
}

/// A customer's cash account. Invariants (kept by [`Account::move_cash`] and the order
/// settlement, and by CHECK constraints in Postgres): `cash ≥ 0`, `0 ≤ held ≤ cash`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: AccountId,
    pub user_id: UserId,
    pub currency: &'static str,
    /// Cash owned.
    pub cash: Money,
    /// Cash reserved for open buy orders.
    pub held: Money,
    pub status: AccountStatus,
    pub created_at: DateTime<Utc>,
    /// The cursor of the account's last trade-update event. Events are numbered under the
    /// account's lock, so they commit in cursor order and a reader resuming after N misses none.
    pub event_seq: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CashError {
    #[error("not enough free cash")]
    Insufficient,
    #[error("the account is not active")]
    NotActive,
    #[error("amount out of range: {0}")]
    OutOfRange(#[from] ValueError),
}

impl Account {
    pub const CURRENCY: &'static str = "USD";

    pub fn open(id: AccountId, user_id: UserId, now: DateTime<Utc>) -> Self {
        Self {
            id,
            user_id,
            currency: Self::CURRENCY,
            cash: Money::ZERO,
            held: Money::ZERO,
            status: AccountStatus::Active,
            created_at: now,
            event_seq: 0,
        }
    }

    /// Cash not reserved by open orders.
    pub fn buying_power(&self) -> Money {
        // held ≤ cash is an invariant, so this cannot underflow; clamp defensively anyway.
        self.cash.checked_sub(self.held).unwrap_or(Money::ZERO).max(Money::ZERO)
    }

    /// Applies a deposit (positive) or withdrawal (negative). A withdrawal may only take
    /// free cash: cash held for open orders stays.
    pub fn move_cash(&mut self, amount: Money) -> Result<(), CashError> {
        if self.status != AccountStatus::Active {
            return Err(CashError::NotActive);
        }
        if amount.is_negative() && self.buying_power() < amount.negated() {
            return Err(CashError::Insufficient);
        }
        self.cash = self.cash.checked_add(amount)?;
        Ok(())
    }

    /// Reserves `amount` of free cash for an order.
    pub fn hold(&mut self, amount: Money) -> Result<(), CashError> {
        if self.status != AccountStatus::Active {
            return Err(CashError::NotActive);
        }
        if self.buying_power() < amount {
            return Err(CashError::Insufficient);
        }
        self.held = self.held.checked_add(amount)?;
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ActivityKind {
    Deposit,
    Withdrawal,
    Fill,
    Fee,
}

impl ActivityKind {
    pub const ALL: [ActivityKind; 4] =
        [ActivityKind::Deposit, ActivityKind::Withdrawal, ActivityKind::Fill, ActivityKind::Fee];

    pub const fn as_str(self) -> &'static str {
        match self {
            ActivityKind::Deposit => "deposit",
            ActivityKind::Withdrawal => "withdrawal",
            ActivityKind::Fill => "fill",
            ActivityKind::Fee => "fee",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == raw)
    }
}

/// The trade behind a fill activity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TradeDetails {
    pub order_id: OrderId,
    pub symbol: Symbol,
    pub side: Side,
    pub qty: Quantity,
    pub price: Price,
    /// Sell fills: proceeds minus the FIFO cost of the shares sold.
    pub realized_pl: Option<Money>,
}

/// One entry of the account's activity ledger. `amount` is the signed change to cash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Activity {
    pub id: ActivityId,
    pub account_id: AccountId,
    pub kind: ActivityKind,
    pub amount: Money,
    pub trade: Option<TradeDetails>,
    pub created_at: DateTime<Utc>,
    /// The `Idempotency-Key` of the request that moved the cash (deposits, withdrawals): kept by
    /// the adapter with the movement, like [`crate::orders::Order::request_key`].
    pub request_key: Option<String>,
}

impl Activity {
    pub fn deposit(id: ActivityId, account_id: AccountId, amount: Amount, at: DateTime<Utc>) -> Self {
        Self {
            id,
            account_id,
            kind: ActivityKind::Deposit,
            amount: amount.as_money(),
            trade: None,
            created_at: at,
            request_key: None,
        }
    }

    pub fn withdrawal(id: ActivityId, account_id: AccountId, amount: Amount, at: DateTime<Utc>) -> Self {
        Self {
            id,
            account_id,
            kind: ActivityKind::Withdrawal,
            amount: amount.as_money().negated(),
            trade: None,
            created_at: at,
            request_key: None,
        }
    }
}

impl Activity {
    /// The commission charged for a fill (`fee` > 0), linked to the fill's trade.
    pub fn fee(id: ActivityId, account_id: AccountId, fee: Money, trade: TradeDetails, at: DateTime<Utc>) -> Self {
        Self {
            id,
            account_id,
            kind: ActivityKind::Fee,
            amount: fee.negated(),
            trade: Some(TradeDetails { realized_pl: None, ..trade }),
            created_at: at,
            request_key: None,
        }
    }
}

/// Which activities to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ActivityFilter {
    pub kind: Option<ActivityKind>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::Decimal;
    use uuid::Uuid;

    fn money(v: i64) -> Money {
        Money::new(Decimal::from(v)).expect("valid")
    }

    fn account(cash: i64, held: i64) -> Account {
        let mut a = Account::open(AccountId::from_uuid(Uuid::now_v7()), UserId::from_uuid(Uuid::now_v7()), Utc::now());
        a.cash = money(cash);
        a.held = money(held);
        a
    }

    #[test]
    fn withdrawals_cannot_take_held_cash() {
        let mut a = account(100, 60);
        assert_eq!(a.move_cash(money(-41)), Err(CashError::Insufficient));
        assert_eq!(a.cash, money(100));
        a.move_cash(money(-40)).expect("free cash");
        assert_eq!((a.cash, a.held, a.buying_power()), (money(60), money(60), money(0)));
    }

    #[test]
    fn holds_never_exceed_free_cash() {
        let mut a = account(100, 0);
        a.hold(money(70)).expect("fits");
        assert_eq!(a.hold(money(31)), Err(CashError::Insufficient));
        assert_eq!(a.held, money(70));
    }

    #[test]
    fn a_closed_account_moves_nothing() {
        let mut a = account(100, 0);
        a.status = AccountStatus::Closed;
        assert_eq!(a.move_cash(money(10)), Err(CashError::NotActive));
    }
}
