//! Positions, valued at the current quote.

use super::page::present;
use super::{FieldErrors, decimal_string};
use crate::errors::ApiError;
use brokerage_domain::accounts::Portfolio;
use brokerage_domain::orders::CloseSize;
use brokerage_domain::positions::PositionView;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

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

/// `GET /portfolio`: the account's value, P&L and every position.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PortfolioResponse {
    /// Cash plus the long market value.
    pub equity: String,
    pub cash: String,
    pub long_market_value: String,
    /// Summed over the open positions, at the current quotes.
    pub unrealized_pl: String,
    /// Summed over every sell fill of the account's history (FIFO cost).
    pub realized_pl: String,
    pub positions: Vec<PositionResponse>,
}

impl From<Portfolio> for PortfolioResponse {
    fn from(p: Portfolio) -> Self {
        Self {
            equity: p.view.equity.to_string(),
            cash: p.view.account.cash.to_string(),
            long_market_value: p.view.long_market_value.to_string(),
            unrealized_pl: p.unrealized_pl.to_string(),
            realized_pl: p.realized_pl.to_string(),
            positions: p.positions.into_iter().map(PositionResponse::from).collect(),
        }
    }
}

/// `DELETE /positions/{symbol}?qty=` or `?percentage=` (neither: the whole position).
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ClosePositionQuery {
    /// Shares to sell (at most the position).
    #[param(value_type = Option<String>, example = "2.5")]
    pub qty: Option<String>,
    /// Percent of the position to sell, in (0, 100]; rounded down to what the asset allows.
    #[param(value_type = Option<String>, example = "50")]
    pub percentage: Option<String>,
}

impl ClosePositionQuery {
    pub fn try_into_domain(self) -> Result<CloseSize, ApiError> {
        let mut errors = FieldErrors::default();
        let decimal = |raw: String| raw.trim().parse::<Decimal>().map_err(|_| "must be a decimal number");
        let qty = errors.check_opt("qty", present(self.qty), |raw| {
            decimal(raw).and_then(|q| if q > Decimal::ZERO { Ok(q) } else { Err("must be greater than zero") })
        });
        let percentage = errors.check_opt("percentage", present(self.percentage), |raw| {
            decimal(raw).and_then(|p| {
                if p > Decimal::ZERO && p <= Decimal::ONE_HUNDRED { Ok(p) } else { Err("must be in (0, 100]") }
            })
        });
        let size = match (qty, percentage) {
            (Some(Some(_)), Some(Some(_))) => {
                return Err(ApiError::invalid_field("percentage", "give either qty or percentage, not both"));
            }
            (Some(Some(q)), Some(None)) => Some(CloseSize::Qty(q)),
            (Some(None), Some(Some(p))) => Some(CloseSize::Percentage(p)),
            (Some(None), Some(None)) => Some(CloseSize::All),
            _ => None,
        };
        errors.finish(size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(qty: Option<&str>, percentage: Option<&str>) -> Result<CloseSize, ApiError> {
        ClosePositionQuery { qty: qty.map(Into::into), percentage: percentage.map(Into::into) }.try_into_domain()
    }

    #[test]
    fn a_close_takes_a_qty_or_a_percentage_or_neither() {
        assert_eq!(close(None, None), Ok(CloseSize::All));
        assert_eq!(close(Some("1.5"), None), Ok(CloseSize::Qty(Decimal::new(15, 1))));
        assert_eq!(close(None, Some("100")), Ok(CloseSize::Percentage(Decimal::ONE_HUNDRED)));
        assert_eq!(close(Some(""), Some("")), Ok(CloseSize::All), "empty values count as absent");
        for (qty, pct) in
            [(Some("1"), Some("50")), (Some("0"), None), (None, Some("0")), (None, Some("100.1")), (Some("x"), None)]
        {
            let err = close(qty, pct).expect_err("invalid");
            assert_eq!(err.code(), "validation_error", "{qty:?} {pct:?}");
        }
    }
}
