//! Positions, valued at the current quote.

use super::decimal_string;
use brokerage_domain::positions::PositionView;
use serde::Serialize;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PositionResponse {
    pub symbol: String,
    pub qty: String,
    pub avg_entry_price: String,
    pub cost_basis: String,
    pub market_value: String,
    pub current_price: String,
    pub unrealized_pl: String,
    /// A fraction of cost: `"0.05"` is +5 %.
    pub unrealized_plpc: String,
}

impl From<PositionView> for PositionResponse {
    fn from(p: PositionView) -> Self {
        Self {
            symbol: p.symbol.to_string(),
            qty: decimal_string(p.qty),
            avg_entry_price: decimal_string(p.avg_entry_price),
            cost_basis: p.cost_basis.to_string(),
            market_value: p.market_value.to_string(),
            current_price: decimal_string(p.current_price),
            unrealized_pl: p.unrealized_pl.to_string(),
            unrealized_plpc: decimal_string(p.unrealized_plpc),
        }
    }
}
