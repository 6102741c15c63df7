use super::models::Position;
use crate::market::{QuoteProvider, Symbol};
use crate::values::Money;
use rust_decimal::Decimal;
use std::sync::Arc;

/// A position valued at the current quote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PositionView {
    pub symbol: Symbol,
    pub qty: Decimal,
    pub avg_entry_price: Decimal,
    pub cost_basis: Money,
    pub current_price: Decimal,
    pub market_value: Money,
    pub unrealized_pl: Money,
    /// Unrealised P&L as a fraction of cost (0.05 = +5 %).
    pub unrealized_plpc: Decimal,
}

/// Values positions at the last price of each symbol.
#[derive(Clone)]
pub struct PositionValuer {
    quotes: Arc<dyn QuoteProvider>,
}

impl PositionValuer {
    pub fn new(quotes: Arc<dyn QuoteProvider>) -> Self {
        Self { quotes }
    }

    /// Values one position. When no quote can be had, the position is valued at cost
    /// (so unrealised P&L reads 0) rather than failing the whole account view.
    pub async fn value(&self, position: Position) -> PositionView {
        let price = match self.quotes.quote(&position.symbol).await {
            Ok(q) => Some(q.price),
            Err(e) => {
                tracing::warn!(symbol = %position.symbol, error = %e, "no quote; valuing position at cost");
                None
            }
        };
        let current_price = position.current_price_or_cost(price);
        // Market value rounds like a sale: down to the cash scale.
        let market_value = Money::proceeds_of(position.qty, current_price).unwrap_or(position.cost_basis);
        let unrealized_pl = market_value.checked_sub(position.cost_basis).unwrap_or(Money::ZERO);
        let unrealized_plpc = if position.cost_basis.get().is_zero() {
            Decimal::ZERO
        } else {
            (unrealized_pl.get() / position.cost_basis.get()).round_dp(6)
        };
        PositionView {
            avg_entry_price: position.avg_entry_price().unwrap_or_default(),
            symbol: position.symbol,
            qty: position.qty,
            cost_basis: position.cost_basis,
            current_price,
            market_value,
            unrealized_pl,
            unrealized_plpc,
        }
    }

    pub async fn value_all(&self, positions: Vec<Position>) -> Vec<PositionView> {
        let mut out = Vec::with_capacity(positions.len());
        for p in positions {
            out.push(self.value(p).await);
        }
        out
    }
}
