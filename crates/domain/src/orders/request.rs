//! Where an order request is validated: every field and every rule between fields, reported
//! together and named as the client sent them.

use super::models::{ClientOrderId, OrderType, Side, TimeInForce};
use crate::error::FieldError;
use crate::market::Symbol;
use crate::values::{Amount, Price, Quantity};
use rust_decimal::Decimal;

/// An order request as the client sent it, with types the transport already checked
/// (enums, decimals) and nothing else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderInput {
    pub symbol: String,
    pub side: Side,
    pub order_type: OrderType,
    pub time_in_force: TimeInForce,
    pub qty: Option<Decimal>,
    pub notional: Option<Decimal>,
    pub limit_price: Option<Decimal>,
    pub stop_price: Option<Decimal>,
    pub trail_percent: Option<Decimal>,
    pub client_order_id: Option<String>,
}

/// How much to trade: a number of shares, or an amount of cash turned into shares at the
/// order's reference price.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Size {
    Qty(Quantity),
    Notional(Amount),
}

/// A valid order request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderSpec {
    pub symbol: Symbol,
    pub side: Side,
    pub order_type: OrderType,
    pub time_in_force: TimeInForce,
    pub size: Size,
    pub limit_price: Option<Price>,
    pub stop_price: Option<Price>,
    /// Percent, in (0, 50].
    pub trail_percent: Option<Decimal>,
    pub client_order_id: Option<ClientOrderId>,
}

const MAX_TRAIL_PERCENT: Decimal = Decimal::from_parts(50, 0, 0, false, 0);

impl OrderSpec {
    pub fn parse(input: OrderInput) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        let mut bad = |field: &str, message: String| errors.push(FieldError::new(field, message));

        let symbol = Symbol::parse(&input.symbol).map_err(|e| bad("symbol", e.to_string())).ok();

        let size = match (input.qty, input.notional) {
            (Some(q), None) => Quantity::new(q).map(Size::Qty).map_err(|e| bad("qty", e.to_string())).ok(),
            (None, Some(n)) => Amount::new(n).map(Size::Notional).map_err(|e| bad("notional", e.to_string())).ok(),
            (Some(_), Some(_)) => {
                bad("notional", "give either qty or notional, not both".into());
                None
            }
            (None, None) => {
                bad("qty", "qty or notional is required".into());
                None
            }
        };

        let (needs_limit, needs_stop, needs_trail) = match input.order_type {
            OrderType::Market => (false, false, false),
            OrderType::Limit => (true, false, false),
            OrderType::Stop => (false, true, false),
            OrderType::StopLimit => (true, true, false),
            OrderType::TrailingStop => (false, false, true),
        };
        let type_name = input.order_type.as_str();
        let mut price_field = |field: &str, raw: Option<Decimal>, needed: bool| -> Option<Price> {
            match (raw, needed) {
                (Some(v), true) => Price::new(v).map_err(|e| bad(field, e.to_string())).ok(),
                (None, true) => {
                    bad(field, format!("is required for {type_name} orders"));
                    None
                }
                (Some(_), false) => {
                    bad(field, format!("must not be set for {type_name} orders"));
                    None
                }
                (None, false) => None,
            }
        };
        let limit_price = price_field("limit_price", input.limit_price, needs_limit);
        let stop_price = price_field("stop_price", input.stop_price, needs_stop);

        let trail_percent = match (input.trail_percent, needs_trail) {
            (Some(t), true) if t > Decimal::ZERO && t <= MAX_TRAIL_PERCENT && t.normalize().scale() <= 2 => {
                Some(t.normalize())
            }
            (Some(_), true) => {
                bad("trail_percent", "must be greater than 0 and at most 50, with at most 2 decimal places".into());
                None
            }
            (None, true) => {
                bad("trail_percent", "is required for trailing_stop orders".into());
                None
            }
            (Some(_), false) => {
                bad("trail_percent", format!("must not be set for {type_name} orders"));
                None
            }
            (None, false) => None,
        };

        if input.order_type == OrderType::Market && matches!(input.time_in_force, TimeInForce::Gtc) {
            bad("time_in_force", "market orders fill at once; use day, ioc or fok".into());
        }

        let client_order_id = match input.client_order_id.as_deref() {
            None => None,
            Some(raw) => match ClientOrderId::parse(raw) {
                Some(id) => Some(id),
                None => {
                    bad("client_order_id", "must be 1 to 128 printable ASCII characters".into());
                    None
                }
            },
        };

        match (symbol, size) {
            (Some(symbol), Some(size)) if errors.is_empty() => Ok(OrderSpec {
                symbol,
                side: input.side,
                order_type: input.order_type,
                time_in_force: input.time_in_force,
                size,
                limit_price,
                stop_price,
                trail_percent,
                client_order_id,
            }),
            _ => Err(errors),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::orders::models::tests::d;

    fn input(order_type: OrderType) -> OrderInput {
        OrderInput {
            symbol: "aapl".into(),
            side: Side::Buy,
            order_type,
            time_in_force: TimeInForce::Day,
            qty: Some(d("10")),
            notional: None,
            limit_price: None,
            stop_price: None,
            trail_percent: None,
            client_order_id: None,
        }
    }

    fn fields(result: Result<OrderSpec, Vec<FieldError>>) -> Vec<String> {
        result.err().unwrap_or_default().into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn a_market_order_needs_only_symbol_side_and_size() {
        let spec = OrderSpec::parse(input(OrderType::Market)).expect("valid");
        assert_eq!(spec.symbol.as_str(), "AAPL");
        assert_eq!(spec.size, Size::Qty(Quantity::new(d("10")).expect("valid")));
    }

    #[test]
    fn a_limit_order_without_limit_price_names_the_field() {
        assert_eq!(fields(OrderSpec::parse(input(OrderType::Limit))), vec!["limit_price"]);
    }

    #[test]
    fn each_type_requires_its_prices_and_refuses_the_others() {
        assert_eq!(fields(OrderSpec::parse(input(OrderType::StopLimit))), vec!["limit_price", "stop_price"]);
        assert_eq!(fields(OrderSpec::parse(input(OrderType::TrailingStop))), vec!["trail_percent"]);
        let mut market = input(OrderType::Market);
        market.limit_price = Some(d("1"));
        assert_eq!(fields(OrderSpec::parse(market)), vec!["limit_price"]);
    }

    #[test]
    fn exactly_one_of_qty_and_notional() {
        let mut both = input(OrderType::Market);
        both.notional = Some(d("100"));
        assert_eq!(fields(OrderSpec::parse(both)), vec!["notional"]);
        let mut neither = input(OrderType::Market);
        neither.qty = None;
        assert_eq!(fields(OrderSpec::parse(neither)), vec!["qty"]);
    }

    #[test]
    fn all_errors_are_reported_together() {
        let mut bad = input(OrderType::Limit);
        bad.symbol = "???".into();
        bad.qty = Some(d("-1"));
        bad.client_order_id = Some("x".repeat(200));
        assert_eq!(fields(OrderSpec::parse(bad)), vec!["symbol", "qty", "limit_price", "client_order_id"]);
    }

    #[test]
    fn trail_percent_is_bounded() {
        for (t, ok) in [("0", false), ("0.5", true), ("50", true), ("50.01", false), ("1.234", false)] {
            let mut i = input(OrderType::TrailingStop);
            i.trail_percent = Some(d(t));
            assert_eq!(OrderSpec::parse(i).is_ok(), ok, "{t}");
        }
    }
}
