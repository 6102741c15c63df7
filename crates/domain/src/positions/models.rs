use crate::ids::AccountId;
use crate::market::Symbol;
use crate::values::{Money, Price, ValueError};
use rust_decimal::Decimal;

/// Shares bought in one fill and not yet sold: the unit of FIFO accounting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lot {
    pub qty: Decimal,
    /// What these shares cost, in cash.
    pub cost: Money,
}

/// Shares of one symbol in one account. Invariants: `qty > 0` (a position at zero is
/// removed), `0 ≤ held ≤ qty`, `qty` = the sum of the lots' quantities and `cost_basis` = the
/// sum of their costs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    pub account_id: AccountId,
    pub symbol: Symbol,
    pub qty: Decimal,
    /// Shares reserved by open sell orders.
    pub held: Decimal,
    /// What the shares still held cost, in cash (FIFO: the oldest lots are sold first).
    pub cost_basis: Money,
    /// Open lots, oldest first.
    pub lots: Vec<Lot>,
}

impl Position {
    pub fn empty(account_id: AccountId, symbol: Symbol) -> Self {
        Self { account_id, symbol, qty: Decimal::ZERO, held: Decimal::ZERO, cost_basis: Money::ZERO, lots: Vec::new() }
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

    /// Adds bought shares as a new lot.
    pub fn buy(&mut self, qty: Decimal, cost: Money) -> Result<(), ValueError> {
        self.qty += qty;
        self.cost_basis = self.cost_basis.checked_add(cost)?;
        self.lots.push(Lot { qty, cost });
        Ok(())
    }

    /// Removes sold shares from the oldest lots first and returns what they cost. A lot sold
    /// in part gives up its cost in proportion, rounded to the cent-hundredth; the last
    /// share sold takes whatever cost remains, so no rounding is ever left behind.
    pub fn sell_fifo(&mut self, qty: Decimal) -> Result<Money, ValueError> {
        if qty > self.qty {
            return Err(ValueError::TooLarge);
        }
        let mut left = qty;
        let mut released = Money::ZERO;
        while left > Decimal::ZERO {
            let Some(lot) = self.lots.first_mut() else {
                // Shares without lots (cannot happen when the invariant holds): cost nothing.
                break;
            };
            if lot.qty <= left {
                left -= lot.qty;
                released = released.checked_add(lot.cost)?;
                self.lots.remove(0);
            } else {
                let part = Money::new((lot.cost.get() * left / lot.qty).round_dp(4))?;
                lot.qty -= left;
                lot.cost = lot.cost.checked_sub(part)?;
                released = released.checked_add(part)?;
                left = Decimal::ZERO;
            }
        }
        self.qty -= qty;
        if self.qty.is_zero() {
            released = released.checked_add(self.cost_basis.checked_sub(released)?)?;
            self.lots.clear();
        }
        self.cost_basis = self.cost_basis.checked_sub(released)?;
        Ok(released)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;
    use uuid::Uuid;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).expect("decimal")
    }
    fn m(s: &str) -> Money {
        Money::new(d(s)).expect("money")
    }

    #[test]
    fn sells_consume_the_oldest_lots_first() {
        let mut p = Position::empty(AccountId::from_uuid(Uuid::now_v7()), Symbol::parse("AAPL").expect("valid"));
        p.buy(d("10"), m("1000")).expect("ok");
        p.buy(d("10"), m("2000")).expect("ok");
        assert_eq!(p.sell_fifo(d("15")).expect("ok"), m("2000"));
        assert_eq!((p.qty, p.cost_basis), (d("5"), m("1000")));
        assert_eq!(p.lots, vec![Lot { qty: d("5"), cost: m("1000") }]);
        assert_eq!(p.sell_fifo(d("5")).expect("ok"), m("1000"));
        assert!(p.lots.is_empty() && p.cost_basis == Money::ZERO);
    }

    #[test]
    fn rounding_never_leaves_cost_behind() {
        let mut p = Position::empty(AccountId::from_uuid(Uuid::now_v7()), Symbol::parse("AAPL").expect("valid"));
        p.buy(d("3"), m("100")).expect("ok");
        let parts: Vec<Money> = (0..3).map(|_| p.sell_fifo(d("1")).expect("ok")).collect();
        assert_eq!(parts.iter().map(|m| m.get()).sum::<Decimal>(), d("100"));
        assert_eq!(p.cost_basis, Money::ZERO);
        assert!(p.sell_fifo(d("1")).is_err());
    }
}
