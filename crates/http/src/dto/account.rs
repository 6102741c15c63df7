//! The account, deposits and withdrawals, and the activity ledger.

use super::page::{page_request, present};
use super::{DecimalInput, FieldErrors, decimal_string};
use crate::errors::ApiError;
use brokerage_domain::accounts::{AccountView, Activity, ActivityFilter, ActivityKind};
use brokerage_domain::ids::ActivityId;
use brokerage_domain::paging::PageRequest;
use brokerage_domain::values::Amount;
use chrono::{DateTime, Utc};
use garde::Validate;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// `POST /account/deposits` and `/account/withdrawals`: `{"amount"}`, positive, at most 4
/// decimal places.
#[derive(Debug, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AmountRequest {
    /// Checked by [`Amount::new`] in `try_into_domain`.
    #[garde(skip)]
    pub amount: DecimalInput,
}

impl AmountRequest {
    pub fn try_into_domain(self) -> Result<Amount, ApiError> {
        let mut errors = FieldErrors::validate(&self);
        let amount = errors.check("amount", self.amount.0).and_then(|d| errors.check("amount", Amount::new(d)));
        errors.finish(amount)
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AccountResponse {
    pub id: Uuid,
    #[schema(example = "USD")]
    pub currency: &'static str,
    pub cash: String,
    pub buying_power: String,
    pub long_market_value: String,
    pub equity: String,
    #[schema(value_type = crate::openapi::schemas::AccountState)]
    pub status: &'static str,
    pub created_at: DateTime<Utc>,
}

impl From<AccountView> for AccountResponse {
    fn from(v: AccountView) -> Self {
        Self {
            id: v.account.id.into(),
            currency: v.account.currency,
            cash: v.account.cash.to_string(),
            buying_power: v.buying_power.to_string(),
            long_market_value: v.long_market_value.to_string(),
            equity: v.equity.to_string(),
            status: v.account.status.as_str(),
            created_at: v.account.created_at,
        }
    }
}

/// An entry of the ledger; the trade fields appear on fills only.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ActivityResponse {
    pub id: Uuid,
    #[serde(rename = "type")]
    #[schema(value_type = crate::openapi::schemas::ActivityType)]
    pub kind: &'static str,
    /// The signed change to cash.
    pub amount: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub symbol: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<crate::openapi::schemas::OrderSide>)]
    pub side: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub qty: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub price: Option<String>,
    /// Sell fills: the proceeds minus the FIFO cost of the shares sold.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub realized_pl: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl From<Activity> for ActivityResponse {
    fn from(a: Activity) -> Self {
        let trade = a.trade.as_ref();
        Self {
            id: a.id.into(),
            kind: a.kind.as_str(),
            amount: decimal_string(a.amount.get()),
            order_id: trade.map(|t| t.order_id.into()),
            symbol: trade.map(|t| t.symbol.to_string()),
            side: trade.map(|t| t.side.as_str()),
            qty: trade.map(|t| t.qty.to_string()),
            price: trade.map(|t| t.price.to_string()),
            realized_pl: trade.and_then(|t| t.realized_pl).map(|m| m.to_string()),
            created_at: a.created_at,
        }
    }
}

/// `GET /account/activities?type=&limit=&after=`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ActivitiesQuery {
    #[serde(rename = "type")]
    #[param(value_type = Option<crate::openapi::schemas::ActivityType>)]
    pub kind: Option<String>,
    #[param(value_type = Option<u16>, minimum = 1, maximum = 500)]
    pub limit: Option<String>,
    /// The `next_cursor` of the previous page (an activity's `id`).
    #[param(value_type = Option<uuid::Uuid>)]
    pub after: Option<String>,
}

impl ActivitiesQuery {
    pub fn try_into_domain(self) -> Result<(ActivityFilter, PageRequest<ActivityId>), ApiError> {
        let mut errors = FieldErrors::default();
        let kind = errors.check_opt("type", present(self.kind), |raw| {
            ActivityKind::parse(&raw).ok_or("must be one of: deposit, withdrawal, fill, fee")
        });
        let page =
            page_request(&mut errors, self.limit, self.after, |c| Uuid::parse_str(c).ok().map(ActivityId::from_uuid));
        errors.finish(kind.zip(page).map(|(kind, page)| (ActivityFilter { kind }, page)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn amount(json: &str) -> Result<Amount, ApiError> {
        serde_json::from_str::<AmountRequest>(json).expect("shape").try_into_domain()
    }

    #[test]
    fn amounts_are_positive_with_at_most_four_decimals() {
        assert_eq!(amount(r#"{"amount": "100.5"}"#).map(|a| a.to_string()), Ok("100.5".into()));
        assert_eq!(amount(r#"{"amount": 0.1}"#).map(|a| a.to_string()), Ok("0.1".into()));
        for bad in [r#"{"amount": "0"}"#, r#"{"amount": -5}"#, r#"{"amount": "1.00001"}"#, r#"{"amount": "abc"}"#] {
            let err = amount(bad).expect_err(bad);
            assert_eq!(err.details().len(), 1, "{bad}");
            assert_eq!(err.details()[0].field, "amount", "{bad}");
        }
    }

    #[test]
    fn activity_filters_are_checked() {
        let q = ActivitiesQuery { kind: Some("fill".into()), ..Default::default() };
        assert_eq!(q.try_into_domain().map(|(f, _)| f.kind), Ok(Some(ActivityKind::Fill)));
        let q = ActivitiesQuery { kind: Some("bonus".into()), ..Default::default() };
        assert_eq!(q.try_into_domain().expect_err("bad type").details()[0].field, "type");
    }
}
