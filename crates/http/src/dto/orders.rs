//! Order requests, orders, and the order list's filters.

use super::page::{page_request, present};
use super::{DecimalInput, FieldErrors, decimal_string};
use crate::errors::ApiError;
use brokerage_domain::ids::OrderId;
use brokerage_domain::market::Symbol;
use brokerage_domain::orders::{
    Order, OrderFilter, OrderInput, OrderType, ReplaceInput, Side, StatusFilter, TimeInForce,
};
use brokerage_domain::paging::PageRequest;
use chrono::{DateTime, Utc};
use garde::Validate;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// `POST /orders`. Enumerations are read as text and decimals leniently, so that every bad
/// value is reported under its field's name; the rules between fields (exactly one of `qty`
/// and `notional`, which prices each type needs) are the domain's
/// ([`OrderSpec::parse`](brokerage_domain::orders::OrderSpec::parse)).
#[derive(Debug, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderRequest {
    #[garde(length(chars, min = 1, max = 10))]
    #[schema(example = "AAPL")]
    pub symbol: String,
    #[garde(skip)]
    #[schema(value_type = crate::openapi::schemas::OrderSide)]
    pub side: String,
    #[serde(rename = "type")]
    #[garde(skip)]
    #[schema(value_type = crate::openapi::schemas::OrderKind)]
    pub order_type: String,
    /// `day` when absent.
    #[garde(skip)]
    #[schema(value_type = Option<crate::openapi::schemas::TimeInForceKind>)]
    pub time_in_force: Option<String>,
    #[garde(skip)]
    pub qty: Option<DecimalInput>,
    #[garde(skip)]
    pub notional: Option<DecimalInput>,
    #[garde(skip)]
    pub limit_price: Option<DecimalInput>,
    #[garde(skip)]
    pub stop_price: Option<DecimalInput>,
    #[garde(skip)]
    pub trail_percent: Option<DecimalInput>,
    #[garde(length(min = 1, max = 128))]
    pub client_order_id: Option<String>,
}

/// A `time_in_force` as sent, read by both the order and the replace request.
fn time_in_force(raw: String) -> Result<TimeInForce, &'static str> {
    TimeInForce::parse(&raw).ok_or("must be one of: day, gtc, ioc, fok")
}

impl OrderRequest {
    pub fn try_into_domain(self) -> Result<OrderInput, ApiError> {
        let mut errors = FieldErrors::validate(&self);
        let side = errors.check("side", Side::parse(&self.side).ok_or("must be buy or sell"));
        let order_type = errors.check(
            "type",
            OrderType::parse(&self.order_type).ok_or("must be one of: market, limit, stop, stop_limit, trailing_stop"),
        );
        let time_in_force = errors
            .check_opt("time_in_force", self.time_in_force, time_in_force)
            .map(|tif| tif.unwrap_or(TimeInForce::Day));
        let qty = errors.decimal("qty", self.qty);
        let notional = errors.decimal("notional", self.notional);
        let limit_price = errors.decimal("limit_price", self.limit_price);
        let stop_price = errors.decimal("stop_price", self.stop_price);
        let trail_percent = errors.decimal("trail_percent", self.trail_percent);
        let input = (|| {
            Some(OrderInput {
                symbol: self.symbol,
                side: side?,
                order_type: order_type?,
                time_in_force: time_in_force?,
                qty: qty?,
                notional: notional?,
                limit_price: limit_price?,
                stop_price: stop_price?,
                trail_percent: trail_percent?,
                client_order_id: self.client_order_id,
            })
        })();
        errors.finish(input)
    }
}

/// `PATCH /orders/{id}`: the terms to change; absent fields keep the old order's (the
/// quantity defaults to what is still unfilled). Decimals as in [`OrderRequest`].
#[derive(Debug, Default, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplaceOrderRequest {
    #[garde(skip)]
    pub qty: Option<DecimalInput>,
    #[garde(skip)]
    pub limit_price: Option<DecimalInput>,
    #[garde(skip)]
    pub stop_price: Option<DecimalInput>,
    #[garde(skip)]
    pub trail_percent: Option<DecimalInput>,
    #[garde(skip)]
    #[schema(value_type = Option<crate::openapi::schemas::TimeInForceKind>)]
    pub time_in_force: Option<String>,
    /// The new order's own client id (unique per account forever; the old one's stays with it).
    #[garde(length(min = 1, max = 128))]
    pub client_order_id: Option<String>,
}

impl ReplaceOrderRequest {
    pub fn try_into_domain(self) -> Result<ReplaceInput, ApiError> {
        let mut errors = FieldErrors::validate(&self);
        let time_in_force = errors.check_opt("time_in_force", self.time_in_force, time_in_force);
        let qty = errors.decimal("qty", self.qty);
        let limit_price = errors.decimal("limit_price", self.limit_price);
        let stop_price = errors.decimal("stop_price", self.stop_price);
        let trail_percent = errors.decimal("trail_percent", self.trail_percent);
        let input = (|| {
            Some(ReplaceInput {
                qty: qty?,
                limit_price: limit_price?,
                stop_price: stop_price?,
                trail_percent: trail_percent?,
                time_in_force: time_in_force?,
                client_order_id: self.client_order_id,
            })
        })();
        errors.finish(input)
    }
}

/// An order: the request's fields plus its state. Absent optionals are `null`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OrderResponse {
    pub id: Uuid,
    pub account_id: Uuid,
    pub client_order_id: Option<String>,
    pub symbol: String,
    #[schema(value_type = crate::openapi::schemas::OrderSide)]
    pub side: &'static str,
    #[serde(rename = "type")]
    #[schema(value_type = crate::openapi::schemas::OrderKind)]
    pub order_type: &'static str,
    #[schema(value_type = crate::openapi::schemas::TimeInForceKind)]
    pub time_in_force: &'static str,
    pub qty: String,
    pub notional: Option<String>,
    pub limit_price: Option<String>,
    pub stop_price: Option<String>,
    pub trail_percent: Option<String>,
    #[schema(value_type = crate::openapi::schemas::OrderState)]
    pub status: &'static str,
    pub filled_qty: String,
    pub filled_avg_price: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub submitted_at: DateTime<Utc>,
    pub filled_at: Option<DateTime<Utc>>,
    pub canceled_at: Option<DateTime<Utc>>,
    pub expired_at: Option<DateTime<Utc>>,
    pub replaced_by: Option<Uuid>,
    pub replaces: Option<Uuid>,
    /// Trailing stops: the best touch seen so far (the stop trails it by `trail_percent`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hwm: Option<String>,
    /// Stop-limit orders: when the stop was reached and the order began trading as a limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub triggered_at: Option<DateTime<Utc>>,
}

impl From<Order> for OrderResponse {
    fn from(o: Order) -> Self {
        Self {
            id: o.id.into(),
            account_id: o.account_id.into(),
            client_order_id: o.client_order_id.map(|c| c.as_str().to_owned()),
            symbol: o.symbol.to_string(),
            side: o.side.as_str(),
            order_type: o.order_type.as_str(),
            time_in_force: o.time_in_force.as_str(),
            qty: o.qty.to_string(),
            notional: o.notional.map(|n| n.to_string()),
            limit_price: o.limit_price.map(|p| p.to_string()),
            stop_price: o.stop_price.map(|p| p.to_string()),
            trail_percent: o.trail_percent.map(decimal_string),
            status: o.status.as_str(),
            filled_qty: decimal_string(o.filled_qty),
            filled_avg_price: o.filled_avg_price.map(decimal_string),
            created_at: o.created_at,
            updated_at: o.updated_at,
            submitted_at: o.submitted_at,
            filled_at: o.filled_at,
            canceled_at: o.canceled_at,
            expired_at: o.expired_at,
            replaced_by: o.replaced_by.map(Into::into),
            replaces: o.replaces.map(Into::into),
            hwm: o.hwm.map(|p| p.to_string()),
            triggered_at: o.triggered_at,
        }
    }
}

/// One order of `DELETE /orders` (207 Multi-Status).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CancelOutcomeResponse {
    pub id: Uuid,
    /// The HTTP status this order's own `DELETE /orders/{id}` would have answered.
    #[schema(example = 200)]
    pub status: u16,
    /// The canceled order (`Order`), or the error envelope (`Error`).
    #[schema(value_type = Object)]
    pub body: serde_json::Value,
}

impl CancelOutcomeResponse {
    pub fn canceled(order: Order) -> Self {
        let id = order.id.into();
        let body = serde_json::to_value(OrderResponse::from(order)).unwrap_or(serde_json::Value::Null);
        Self { id, status: 200, body }
    }

    pub fn refused(id: OrderId, error: &ApiError) -> Self {
        let body = serde_json::from_str(&error.to_body()).unwrap_or(serde_json::Value::Null);
        Self { id: id.into(), status: error.status().as_u16(), body }
    }
}

/// `GET /orders?status=open|closed|all&symbol=&limit=&after=` (status defaults to `open`).
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OrdersQuery {
    #[param(value_type = Option<crate::openapi::schemas::OrderStatusFilter>)]
    pub status: Option<String>,
    /// A ticker symbol (letters first; letters, digits, `.` and `-`; at most 10).
    #[param(value_type = Option<String>, pattern = r"^[ \t\r\n]*[A-Za-z][A-Za-z0-9.\-]{0,9}[ \t\r\n]*$")]
    pub symbol: Option<String>,
    #[param(value_type = Option<u16>, minimum = 1, maximum = 500)]
    pub limit: Option<String>,
    /// The `next_cursor` of the previous page (an order's `id`).
    #[param(value_type = Option<uuid::Uuid>)]
    pub after: Option<String>,
}

impl OrdersQuery {
    pub fn try_into_domain(self) -> Result<(OrderFilter, PageRequest<OrderId>), ApiError> {
        let mut errors = FieldErrors::default();
        let status = errors.check_opt("status", present(self.status), |raw| match raw.as_str() {
            "open" => Ok(StatusFilter::Open),
            "closed" => Ok(StatusFilter::Closed),
            "all" => Ok(StatusFilter::All),
            _ => Err("must be one of: open, closed, all"),
        });
        let symbol = errors.check_opt("symbol", present(self.symbol), |raw| Symbol::parse(&raw));
        let page =
            page_request(&mut errors, self.limit, self.after, |c| Uuid::parse_str(c).ok().map(OrderId::from_uuid));
        let filter =
            status.zip(symbol).map(|(status, symbol)| OrderFilter { status: status.unwrap_or_default(), symbol });
        errors.finish(filter.zip(page))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::Decimal;

    fn parse(json: &str) -> Result<OrderInput, ApiError> {
        serde_json::from_str::<OrderRequest>(json).expect("shape").try_into_domain()
    }

    fn fields(err: &ApiError) -> Vec<&str> {
        err.details().iter().map(|d| d.field.as_str()).collect()
    }

    #[test]
    fn a_limit_order_with_string_and_number_decimals() {
        let input = parse(r#"{"symbol": "aapl", "side": "buy", "type": "limit", "qty": 0.5, "limit_price": "150.25"}"#)
            .expect("valid");
        assert_eq!(input.time_in_force, TimeInForce::Day);
        assert_eq!(input.qty, Some(Decimal::new(5, 1)));
        assert_eq!(input.limit_price, Some(Decimal::new(15025, 2)));
        assert_eq!((input.side, input.order_type), (Side::Buy, OrderType::Limit));
    }

    #[test]
    fn every_bad_field_is_named() {
        let err = parse(
            r#"{"symbol": "", "side": "hold", "type": "fancy", "time_in_force": "forever",
                "qty": "NaN", "limit_price": 1e308, "client_order_id": ""}"#,
        )
        .expect_err("invalid");
        assert_eq!(err.code(), "validation_error");
        let mut got = fields(&err);
        got.sort_unstable();
        assert_eq!(got, vec!["client_order_id", "limit_price", "qty", "side", "symbol", "time_in_force", "type"]);
    }

    #[test]
    fn status_and_cash_cannot_be_smuggled_in() {
        assert!(
            serde_json::from_str::<OrderRequest>(
                r#"{"symbol": "A", "side": "buy", "type": "market", "status": "filled"}"#
            )
            .is_err()
        );
    }

    #[test]
    fn a_replace_takes_only_the_terms_it_changes() {
        let parse = |json: &str| serde_json::from_str::<ReplaceOrderRequest>(json).expect("shape").try_into_domain();
        let input = parse(r#"{"limit_price": 101.5, "qty": "2"}"#).expect("valid");
        assert_eq!(input.limit_price, Some(Decimal::new(1015, 1)));
        assert_eq!(input.qty, Some(Decimal::from(2)));
        assert_eq!((input.stop_price, input.time_in_force), (None, None));
        let err = parse(r#"{"qty": "abc", "time_in_force": "forever"}"#).expect_err("invalid");
        assert_eq!(fields(&err), vec!["time_in_force", "qty"]);
        assert!(serde_json::from_str::<ReplaceOrderRequest>(r#"{"symbol": "MSFT"}"#).is_err(), "symbol cannot change");
    }

    #[test]
    fn list_filters_default_to_open_orders() {
        let (filter, page) = OrdersQuery::default().try_into_domain().expect("valid");
        assert_eq!((filter.status, filter.symbol, page.limit()), (StatusFilter::Open, None, 50));
        let err = OrdersQuery { status: Some("pending".into()), limit: Some("0".into()), ..Default::default() }
            .try_into_domain()
            .expect_err("invalid");
        assert_eq!(fields(&err), vec!["status", "limit"]);
    }
}
