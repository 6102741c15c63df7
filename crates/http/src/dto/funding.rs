//! `POST /webhooks/funding`: the funding provider's deposit notice (read only after its
//! signature is verified).

use super::{DecimalInput, FieldErrors};
use crate::errors::ApiError;
use brokerage_domain::accounts::FundingEvent;
use brokerage_domain::ids::AccountId;
use brokerage_domain::values::Amount;
use garde::Validate;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The provider's event: `{event_id, account_id, amount, type: "deposit"}`.
#[derive(Debug, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FundingWebhookRequest {
    /// The provider's id of the event: each one is credited once.
    #[garde(length(chars, min = 1, max = 255))]
    #[schema(min_length = 1, max_length = 255, example = "evt_01HZX3")]
    pub event_id: String,
    /// The account to credit (`GET /account` → `id`).
    #[garde(skip)]
    #[schema(value_type = uuid::Uuid)]
    pub account_id: String,
    /// Positive, at most 4 decimal places.
    #[garde(skip)]
    pub amount: DecimalInput,
    /// Only `deposit` is credited.
    #[serde(rename = "type")]
    #[garde(skip)]
    #[schema(example = "deposit", pattern = "^deposit$")]
    pub kind: String,
}

impl FundingWebhookRequest {
    pub fn try_into_domain(self) -> Result<FundingEvent, ApiError> {
        let mut errors = FieldErrors::validate(&self);
        let account_id = errors.check(
            "account_id",
            Uuid::parse_str(&self.account_id).map(AccountId::from_uuid).map_err(|_| "must be a UUID"),
        );
        let amount = errors.check("amount", self.amount.0).and_then(|d| errors.check("amount", Amount::new(d)));
        let kind = errors.check("type", if self.kind == "deposit" { Ok(()) } else { Err("must be deposit") });
        let event = (|| {
            kind?;
            Some(FundingEvent { event_id: self.event_id, account_id: account_id?, amount: amount? })
        })();
        errors.finish(event)
    }
}

/// The answer: whether this delivery credited the account (`false`: the event was credited
/// before; nothing changed).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FundingWebhookResponse {
    pub credited: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<FundingEvent, ApiError> {
        serde_json::from_str::<FundingWebhookRequest>(json).expect("shape").try_into_domain()
    }

    #[test]
    fn a_deposit_notice_names_its_account_and_amount() {
        let id = Uuid::now_v7();
        let event =
            parse(&format!(r#"{{"event_id": "e1", "account_id": "{id}", "amount": "25.5", "type": "deposit"}}"#))
                .expect("valid");
        assert_eq!((event.event_id.as_str(), Uuid::from(event.account_id)), ("e1", id));
        assert_eq!(event.amount.to_string(), "25.5");
        let err =
            parse(r#"{"event_id": "", "account_id": "x", "amount": "-1", "type": "withdrawal"}"#).expect_err("invalid");
        let mut fields: Vec<_> = err.details().iter().map(|d| d.field.as_str()).collect();
        fields.sort_unstable();
        assert_eq!(fields, ["account_id", "amount", "event_id", "type"]);
    }
}
