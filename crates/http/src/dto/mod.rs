//! Request and response bodies, and how they map to the domain.
//!
//! Requests deny unknown fields (so `role`, `cash` or `status` can never be smuggled in),
//! carry garde rules for what the transport can check, and turn into domain inputs with
//! `try_into_domain()`, which reports every invalid field at once, named as the client sent
//! it. Responses write money and quantities as normalised decimal strings, ids as UUID strings
//! and timestamps as RFC 3339 UTC.

pub mod account;
pub mod api_keys;
pub mod auth;
pub mod decimal;
pub mod funding;
pub mod market_data;
pub mod orders;
pub mod page;
pub mod positions;
pub mod webhooks;

pub use account::{AccountResponse, ActivitiesQuery, ActivityResponse, AmountRequest};
pub use api_keys::{ApiKeyResponse, CreateApiKeyRequest, CreatedApiKeyResponse};
pub use auth::{
    ChangePasswordRequest, LoginRequest, RefreshRequest, RegisterRequest, TokensResponse, TotpCodeRequest,
    TotpSetupResponse, UpdateUserRequest, UserResponse,
};
pub use decimal::DecimalInput;
pub use funding::{FundingWebhookRequest, FundingWebhookResponse};
pub use market_data::{ClockResponse, QuoteResponse};
pub use orders::{OrderRequest, OrderResponse, OrdersQuery, ReplaceOrderRequest};
pub use page::{PageQuery, PageResponse};
pub use positions::{ClosePositionQuery, PortfolioResponse, PositionResponse};

use crate::errors::{ApiError, FieldDetail};
use rust_decimal::Decimal;
use std::fmt::Display;

/// A decimal as a response writes it: `"150.25"`, `"0.5"`, `"0"` (no trailing zeros, no `-0`).
pub(crate) fn decimal_string(d: Decimal) -> String {
    d.normalize().to_string()
}

/// Collects a request's invalid fields so that all of them are reported together.
#[derive(Debug, Default)]
pub(crate) struct FieldErrors(Vec<FieldDetail>);

impl FieldErrors {
    /// Starts from the verdict of the request's garde rules.
    pub(crate) fn validate(request: &impl garde::Validate<Context = ()>) -> Self {
        let details = match request.validate() {
            Ok(()) => Vec::new(),
            Err(report) => report.iter().map(|(path, e)| FieldDetail::new(path.to_string(), e.message())).collect(),
        };
        Self(details)
    }

    /// The value, or `None` with the error recorded against `field` (once: when the garde
    /// rules already refused the field, their message stands).
    pub(crate) fn check<T, E: Display>(&mut self, field: &str, result: Result<T, E>) -> Option<T> {
        result
            .map_err(|e| {
                if !self.0.iter().any(|d| d.field == field) {
                    self.0.push(FieldDetail::new(field, e.to_string()));
                }
            })
            .ok()
    }

    /// Like [`check`](Self::check) for an optional field: absent stays `Some(None)`.
    pub(crate) fn check_opt<R, T, E: Display>(
        &mut self,
        field: &str,
        raw: Option<R>,
        parse: impl FnOnce(R) -> Result<T, E>,
    ) -> Option<Option<T>> {
        match raw {
            None => Some(None),
            Some(raw) => self.check(field, parse(raw)).map(Some),
        }
    }

    /// An optional decimal field.
    pub(crate) fn decimal(&mut self, field: &str, raw: Option<DecimalInput>) -> Option<Option<Decimal>> {
        self.check_opt(field, raw, |d| d.0)
    }

    /// The converted request, or a 400 `validation_error` listing every recorded field.
    /// `value` is `None` only when an error was recorded.
    pub(crate) fn finish<T>(self, value: Option<T>) -> Result<T, ApiError> {
        match value {
            Some(value) if self.0.is_empty() => Ok(value),
            _ => Err(ApiError::validation(self.0)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_strings_are_normalised() {
        let d = |s: &str| s.parse::<Decimal>().expect("decimal literal");
        assert_eq!(decimal_string(d("150.2500")), "150.25");
        assert_eq!(decimal_string(d("0.50")), "0.5");
        assert_eq!(decimal_string(d("100")), "100");
        assert_eq!(decimal_string(d("-0.00")), "0");
    }
}
