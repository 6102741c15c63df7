use crate::ids::AccountId;
use crate::market::Symbol;
use crate::values::{Money, Price};
use rust_decimal::Decimal;

/// Shares of one symbol in one account. Invariants: `qty > 0` (a position at zero is
/// removed), `0 ≤ held ≤ qty`, `cost_basis ≥ 0`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    pub account_id: AccountId,
    pub symbol: Symbol,
    pub qty: Decimal,
    /// Shares reserved by open sell orders.
    pub held: Decimal,
    /// What the shares still held cost, in cash (average-cost method).
    pub cost_basis: Money,
}

impl Position {
    pub fn empty(account_id: AccountId, symbol: Symbol) -> Self {
        Self { account_id, symbol, qty: Decimal::ZERO, held: Decimal::ZERO, cost_basis: Money::ZERO }
    }

    /// Shares that open orders do not reserve.
    pub fn available(&self) -> Decimal {
        self.qty - self.held
    }

    /// Average price paid per share still held.
    pub fn avg_entry_price(&self) -> Option<Decimal> {
        (!self.qty.is_zero()).then(|| (self.cost_basis.get() / self.qty).round_dp(4))
    }

    pub fn current_price_or_cost(&self, price: Option<Price>) -> Decimal {
        price.map(|p| p.get()).or_else(|| self.avg_entry_price()).unwrap_or_default()
    }
}
