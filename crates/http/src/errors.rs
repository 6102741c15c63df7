//! The error envelope, and the ONLY place that maps outcomes to HTTP status codes.
//!
//! Every error answer has the same body (API.md):
//! `{"error": "<stable snake_case code>", "message": "...", "details": [...], "request_id": "..."}`.
//! Messages are our own words: library and infrastructure text never reaches a client. The
//! cause of a 5xx is logged once, with its whole chain, when the error is converted here.

use crate::extract::json_error_detail;
use crate::request_id;
use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use brokerage_domain::FieldError;
use brokerage_domain::accounts::{FundsError, ReadError};
use brokerage_domain::api_keys::{ApiKeyError, SignatureError};
use brokerage_domain::error::InfraError;
use brokerage_domain::market::QuoteError;
use brokerage_domain::orders::{
    CancelOrderError, ClosePositionError, PlaceOrderError, ReadOrderError, ReplaceOrderError,
};
use brokerage_domain::rbac::Forbidden;
use brokerage_domain::users::{
    AdminError, AuthenticateError, ChangePasswordError, LoginError, RegisterError, TwoFactorError,
};
use serde::Serialize;
use std::fmt;

/// One invalid field of a request, named as the client sent it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FieldDetail {
    pub field: String,
    pub message: String,
}

impl FieldDetail {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: field.into(), message: message.into() }
    }
}

impl From<FieldError> for FieldDetail {
    fn from(e: FieldError) -> Self {
        Self { field: e.field, message: e.message }
    }
}

/// An error answer: a status, a stable code, our own message and, for validation errors, one
/// detail per invalid field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    details: Vec<FieldDetail>,
    /// Seconds for `Retry-After` (429 and 503 answers that know when to come back).
    retry_after: Option<u64>,
}

#[derive(Serialize)]
struct Envelope<'a> {
    error: &'static str,
    message: &'a str,
    details: &'a [FieldDetail],
    /// `None` only outside the request-id middleware (never in the assembled app).
    request_id: Option<String>,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into(), details: Vec::new(), retry_after: None }
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    pub fn code(&self) -> &'static str {
        self.code
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    pub fn details(&self) -> &[FieldDetail] {
        &self.details
    }

    // 400
    pub fn validation(details: Vec<FieldDetail>) -> Self {
        Self { details, ..Self::new(StatusCode::BAD_REQUEST, "validation_error", "the request is invalid") }
    }

    pub fn invalid_field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::validation(vec![FieldDetail::new(field, message)])
    }

    // 401
    pub fn unauthenticated() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthenticated", "a valid access token is required")
    }

    pub fn token_expired() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "token_expired", "the access token has expired")
    }

    pub fn invalid_credentials() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "invalid_credentials", "the e-mail or password is wrong")
    }

    // 403
    pub fn forbidden() -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", "your role does not allow this")
    }

    // 404
    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "no such resource")
    }

    pub fn unknown_symbol() -> Self {
        Self::new(StatusCode::NOT_FOUND, "unknown_symbol", "no such symbol")
    }

    // 413, 415
    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", format!("the body exceeds {limit} bytes"))
    }

    pub fn unsupported_media_type() -> Self {
        Self::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", "send the body as application/json")
    }

    // 422
    fn unprocessable(code: &'static str, message: &str) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
    }

    // 409, 422: `Idempotency-Key` refusals (see `idempotency`)
    pub fn idempotency_key_in_use() -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "idempotency_key_in_use",
            "a request with this Idempotency-Key is still running; retry later",
        )
    }

    pub fn idempotency_key_reused() -> Self {
        Self::unprocessable("idempotency_key_reused", "this Idempotency-Key was already used for a different request")
    }

    /// `POST /webhooks/funding` without a valid `X-Signature` (missing, malformed, stale or
    /// wrong): the reason goes to the logs only.
    pub fn bad_webhook_signature(reason: &str) -> Self {
        tracing::info!(auth.failure = reason, "funding webhook refused");
        Self::new(StatusCode::UNAUTHORIZED, "unauthenticated", "the webhook signature is not valid")
    }

    /// A funding notice for an account that does not exist.
    pub fn unknown_account() -> Self {
        Self::unprocessable("unknown_account", "no such account")
    }

    /// The funding webhook is off: no secret is configured.
    pub fn webhook_not_configured() -> Self {
        let err = Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "the funding webhook is not configured");
        tracing::warn!("a funding webhook arrived but no WEBHOOK_SECRET is configured");
        err
    }

    // 5xx: the cause is logged here, once, and never sent.
    pub fn unavailable(cause: impl Into<anyhow::Error>) -> Self {
        let err = Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "a dependency is unavailable; retry later");
        err.log(&cause.into());
        err
    }

    pub fn internal(cause: impl Into<anyhow::Error>) -> Self {
        let err = Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "an unexpected error occurred");
        err.log(&cause.into());
        err
    }

    fn log(&self, cause: &anyhow::Error) {
        // `{:#}` prints the whole chain: "outer: inner: root".
        tracing::error!(error.code = self.code, error.cause = format!("{cause:#}"), "request failed");
    }

    /// The envelope for an error response that some layer (actix's router, a middleware)
    /// produced without a body.
    pub fn for_status(status: StatusCode) -> Self {
        let (code, message) = match status {
            StatusCode::BAD_REQUEST => ("validation_error", "the request is invalid"),
            StatusCode::UNAUTHORIZED => ("unauthenticated", "a valid access token is required"),
            StatusCode::FORBIDDEN => ("forbidden", "your role does not allow this"),
            StatusCode::NOT_FOUND => ("not_found", "no such resource"),
            StatusCode::METHOD_NOT_ALLOWED => ("method_not_allowed", "this method is not allowed on this path"),
            StatusCode::PAYLOAD_TOO_LARGE => ("payload_too_large", "the body is too large"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => ("unsupported_media_type", "send the body as application/json"),
            StatusCode::TOO_MANY_REQUESTS => ("rate_limited", "too many requests; retry later"),
            StatusCode::SERVICE_UNAVAILABLE => ("unavailable", "a dependency is unavailable; retry later"),
            s if s.is_server_error() => {
                tracing::error!(http.status = s.as_u16(), "an error response without a body reached the edge");
                ("internal", "an unexpected error occurred")
            }
            _ => ("bad_request", "the request cannot be served"),
        };
        Self::new(status, code, message)
    }

    /// The envelope as JSON, stamped with the current request's id.
    pub fn to_body(&self) -> String {
        let envelope = Envelope {
            error: self.code,
            message: &self.message,
            details: &self.details,
            request_id: request_id::current(),
        };
        // Serialising strings into a String cannot fail; keep a fixed body just in case.
        serde_json::to_string(&envelope)
            .unwrap_or_else(|_| r#"{"error":"internal","message":"an unexpected error occurred","details":[]}"#.into())
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}): {}", self.code, self.status.as_u16(), self.message)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut res = HttpResponse::build(self.status);
        res.insert_header((header::CONTENT_TYPE, HeaderValue::from_static("application/json")))
            // An error is about this request only: never cache it.
            .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")));
        if self.status == StatusCode::UNAUTHORIZED {
            res.insert_header((header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer")));
        }
        if let Some(secs) = self.retry_after {
            res.insert_header((header::RETRY_AFTER, secs));
        }
        res.body(self.to_body())
    }
}

// ---- domain errors -------------------------------------------------------------------------

impl From<InfraError> for ApiError {
    fn from(e: InfraError) -> Self {
        match e {
            InfraError::Unavailable(_) => Self::unavailable(e),
            InfraError::Unknown(_) => Self::internal(e),
        }
    }
}

impl From<Forbidden> for ApiError {
    fn from(_: Forbidden) -> Self {
        Self::forbidden()
    }
}

impl From<RegisterError> for ApiError {
    fn from(e: RegisterError) -> Self {
        match e {
            RegisterError::EmailTaken => {
                Self::new(StatusCode::CONFLICT, "conflict", "this e-mail address is already registered")
            }
            RegisterError::Infra(e) => e.into(),
        }
    }
}

impl From<LoginError> for ApiError {
    fn from(e: LoginError) -> Self {
        match e {
            LoginError::InvalidCredentials => Self::invalid_credentials(),
            LoginError::Throttled { retry_after_secs } => Self {
                retry_after: Some(retry_after_secs),
                ..Self::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", "too many login attempts; retry later")
            },
            LoginError::TotpRequired => {
                Self::new(StatusCode::UNAUTHORIZED, "totp_required", "a one-time code (totp_code) is required")
            }
            LoginError::Infra(e) => e.into(),
        }
    }
}

impl From<AuthenticateError> for ApiError {
    fn from(e: AuthenticateError) -> Self {
        match e {
            AuthenticateError::Expired => Self::token_expired(),
            AuthenticateError::Invalid => Self::unauthenticated(),
            AuthenticateError::Infra(e) => e.into(),
        }
    }
}

impl From<ChangePasswordError> for ApiError {
    fn from(e: ChangePasswordError) -> Self {
        match e {
            ChangePasswordError::InvalidCredentials => Self::invalid_credentials(),
            ChangePasswordError::Infra(e) => e.into(),
        }
    }
}

impl From<TwoFactorError> for ApiError {
    fn from(e: TwoFactorError) -> Self {
        match e {
            TwoFactorError::InvalidCode => {
                Self::unprocessable("invalid_totp_code", "the code is wrong, expired or already used")
            }
            TwoFactorError::AlreadyEnabled => {
                Self::new(StatusCode::CONFLICT, "conflict", "two-factor authentication is already enabled")
            }
            TwoFactorError::Infra(e) => e.into(),
        }
    }
}

impl From<ApiKeyError> for ApiError {
    fn from(e: ApiKeyError) -> Self {
        match e {
            ApiKeyError::Forbidden(_) => Self::forbidden(),
            ApiKeyError::NotFound => Self::not_found(),
            ApiKeyError::Invalid(why) => Self::invalid_field("scopes", why),
            ApiKeyError::Infra(e) => e.into(),
        }
    }
}

impl From<SignatureError> for ApiError {
    /// Every refusal looks the same to the caller; the reason goes to the logs only.
    fn from(e: SignatureError) -> Self {
        match e {
            SignatureError::Infra(e) => e.into(),
            reason => {
                tracing::info!(auth.failure = %reason, "signed request refused");
                Self::new(StatusCode::UNAUTHORIZED, "unauthenticated", "the API key signature is not valid")
            }
        }
    }
}

impl From<AdminError> for ApiError {
    fn from(e: AdminError) -> Self {
        match e {
            AdminError::Forbidden(_) => Self::forbidden(),
            AdminError::NotFound => Self::not_found(),
            AdminError::Infra(e) => e.into(),
        }
    }
}

const ACCOUNT_NOT_ACTIVE: &str = "the account is not active";

impl From<FundsError> for ApiError {
    fn from(e: FundsError) -> Self {
        match e {
            FundsError::Forbidden(_) => Self::forbidden(),
            FundsError::NotFound => Self::not_found(),
            FundsError::InsufficientFunds => Self::unprocessable("insufficient_funds", "not enough free cash"),
            FundsError::AccountNotActive => Self::unprocessable("account_not_active", ACCOUNT_NOT_ACTIVE),
            // Only deposits and withdrawals move funds, and their one field is `amount`.
            FundsError::OutOfRange => Self::invalid_field("amount", "would take the balance out of range"),
            FundsError::Infra(e) => e.into(),
        }
    }
}

impl From<ReadError> for ApiError {
    fn from(e: ReadError) -> Self {
        match e {
            ReadError::Forbidden(_) => Self::forbidden(),
            ReadError::NotFound => Self::not_found(),
            ReadError::Infra(e) => e.into(),
        }
    }
}

impl From<PlaceOrderError> for ApiError {
    fn from(e: PlaceOrderError) -> Self {
        match e {
            PlaceOrderError::Forbidden(_) => Self::forbidden(),
            PlaceOrderError::Invalid(fields) => Self::validation(fields.into_iter().map(Into::into).collect()),
            PlaceOrderError::UnknownSymbol => Self::unprocessable("unknown_symbol", "no such symbol"),
            PlaceOrderError::SymbolHalted => Self::unprocessable("symbol_halted", "trading in this symbol is halted"),
            PlaceOrderError::InsufficientBuyingPower => {
                Self::unprocessable("insufficient_buying_power", "not enough buying power for this order")
            }
            PlaceOrderError::InsufficientPosition => {
                Self::unprocessable("insufficient_position", "not enough shares available to sell")
            }
            PlaceOrderError::DuplicateClientOrderId => Self::new(
                StatusCode::CONFLICT,
                "duplicate_client_order_id",
                "this client_order_id was already used by this account",
            ),
            PlaceOrderError::AccountNotActive => Self::unprocessable("account_not_active", ACCOUNT_NOT_ACTIVE),
            PlaceOrderError::MarketClosed => {
                Self::unprocessable("market_closed", "the market is closed: only limit and stop orders are accepted")
            }
            PlaceOrderError::QuoteUnavailable(cause) => Self::unavailable(cause),
            PlaceOrderError::Infra(e) => e.into(),
        }
    }
}

impl From<CancelOrderError> for ApiError {
    fn from(e: CancelOrderError) -> Self {
        match e {
            CancelOrderError::Forbidden(_) => Self::forbidden(),
            CancelOrderError::NotFound => Self::not_found(),
            CancelOrderError::NotCancelable => {
                Self::unprocessable("order_not_cancelable", "the order is no longer open")
            }
            CancelOrderError::Infra(e) => e.into(),
        }
    }
}

impl From<ReplaceOrderError> for ApiError {
    fn from(e: ReplaceOrderError) -> Self {
        match e {
            ReplaceOrderError::Forbidden(_) => Self::forbidden(),
            ReplaceOrderError::NotFound => Self::not_found(),
            ReplaceOrderError::NotCancelable => {
                Self::unprocessable("order_not_cancelable", "the order is no longer open")
            }
            ReplaceOrderError::Place(e) => e.into(),
        }
    }
}

impl From<ClosePositionError> for ApiError {
    fn from(e: ClosePositionError) -> Self {
        match e {
            ClosePositionError::NotFound => Self::not_found(),
            ClosePositionError::Place(e) => e.into(),
        }
    }
}

impl From<ReadOrderError> for ApiError {
    fn from(e: ReadOrderError) -> Self {
        match e {
            ReadOrderError::Forbidden(_) => Self::forbidden(),
            ReadOrderError::NotFound => Self::not_found(),
            ReadOrderError::Infra(e) => e.into(),
        }
    }
}

/// Quote errors reach the client only through the market-data routes, where an unknown
/// symbol is a 404 (API.md).
impl From<QuoteError> for ApiError {
    fn from(e: QuoteError) -> Self {
        match e {
            QuoteError::UnknownSymbol => Self::unknown_symbol(),
            QuoteError::Unavailable(cause) => Self::unavailable(cause),
        }
    }
}

// ---- extractor errors ----------------------------------------------------------------------

impl From<JsonPayloadError> for ApiError {
    fn from(e: JsonPayloadError) -> Self {
        match e {
            JsonPayloadError::OverflowKnownLength { limit, .. } | JsonPayloadError::Overflow { limit } => {
                Self::payload_too_large(limit)
            }
            JsonPayloadError::ContentType => Self::unsupported_media_type(),
            JsonPayloadError::Deserialize(e) => Self::validation(vec![json_error_detail(&e)]),
            JsonPayloadError::Serialize(e) => Self::internal(e),
            // A broken or truncated upload.
            _ => Self::invalid_field("body", "could not be read"),
        }
    }
}

impl From<QueryPayloadError> for ApiError {
    fn from(_: QueryPayloadError) -> Self {
        Self::invalid_field("query", "is not a valid query string")
    }
}

impl From<PathError> for ApiError {
    fn from(_: PathError) -> Self {
        Self::invalid_field("path", "has an invalid segment")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::body::to_bytes;
    use serde_json::{Value, json};

    async fn rendered(err: ApiError) -> (StatusCode, Value) {
        let res = err.error_response();
        let status = res.status();
        assert_eq!(res.headers().get(header::CONTENT_TYPE).map(|v| v.as_bytes()), Some(&b"application/json"[..]));
        assert_eq!(res.headers().get(header::CACHE_CONTROL).map(|v| v.as_bytes()), Some(&b"no-store"[..]));
        let body = to_bytes(res.into_body()).await.expect("body");
        (status, serde_json::from_slice(&body).expect("json envelope"))
    }

    #[actix_web::test]
    async fn every_status_renders_the_same_envelope() {
        let cases: Vec<(ApiError, u16, &str)> = vec![
            (ApiError::invalid_field("qty", "must be greater than zero"), 400, "validation_error"),
            (AuthenticateError::Invalid.into(), 401, "unauthenticated"),
            (AuthenticateError::Expired.into(), 401, "token_expired"),
            (LoginError::InvalidCredentials.into(), 401, "invalid_credentials"),
            (Forbidden.into(), 403, "forbidden"),
            (ReadOrderError::NotFound.into(), 404, "not_found"),
            (QuoteError::UnknownSymbol.into(), 404, "unknown_symbol"),
            (RegisterError::EmailTaken.into(), 409, "conflict"),
            (PlaceOrderError::DuplicateClientOrderId.into(), 409, "duplicate_client_order_id"),
            (JsonPayloadError::Overflow { limit: 10 }.into(), 413, "payload_too_large"),
            (JsonPayloadError::ContentType.into(), 415, "unsupported_media_type"),
            (PlaceOrderError::InsufficientBuyingPower.into(), 422, "insufficient_buying_power"),
            (PlaceOrderError::InsufficientPosition.into(), 422, "insufficient_position"),
            (PlaceOrderError::UnknownSymbol.into(), 422, "unknown_symbol"),
            (PlaceOrderError::MarketClosed.into(), 422, "market_closed"),
            (FundsError::InsufficientFunds.into(), 422, "insufficient_funds"),
            (FundsError::AccountNotActive.into(), 422, "account_not_active"),
            (CancelOrderError::NotCancelable.into(), 422, "order_not_cancelable"),
            (ReplaceOrderError::NotCancelable.into(), 422, "order_not_cancelable"),
            (ReplaceOrderError::NotFound.into(), 404, "not_found"),
            (
                ReplaceOrderError::Place(PlaceOrderError::InsufficientBuyingPower).into(),
                422,
                "insufficient_buying_power",
            ),
            (ClosePositionError::NotFound.into(), 404, "not_found"),
            (ApiError::unknown_account(), 422, "unknown_account"),
            (ApiError::bad_webhook_signature("stale"), 401, "unauthenticated"),
            (ApiError::webhook_not_configured(), 503, "unavailable"),
            (InfraError::Unavailable(anyhow::anyhow!("pool timed out")).into(), 503, "unavailable"),
            (InfraError::Unknown(anyhow::anyhow!("SELECT * FROM users failed")).into(), 500, "internal"),
        ];
        for (err, status, code) in cases {
            let (got_status, body) = rendered(err).await;
            assert_eq!(got_status.as_u16(), status, "{code}");
            assert_eq!(body["error"], code);
            assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "{code}");
            assert!(body["details"].is_array(), "{code}");
            assert!(body.as_object().is_some_and(|o| o.contains_key("request_id")), "{code}");
        }
    }

    #[actix_web::test]
    async fn validation_errors_name_each_field() {
        let err: ApiError = PlaceOrderError::Invalid(vec![
            FieldError::new("qty", "must be greater than zero"),
            FieldError::new("limit_price", "is required for limit orders"),
        ])
        .into();
        let (_, body) = rendered(err).await;
        assert_eq!(
            body["details"],
            json!([
                {"field": "qty", "message": "must be greater than zero"},
                {"field": "limit_price", "message": "is required for limit orders"},
            ])
        );
    }

    #[actix_web::test]
    async fn internal_errors_never_leak_their_cause() {
        let err: ApiError = InfraError::Unknown(anyhow::anyhow!("relation \"users\" does not exist")).into();
        let (_, body) = rendered(err).await;
        assert!(!body.to_string().contains("relation"));
        assert_eq!(body["message"], "an unexpected error occurred");
    }

    #[actix_web::test]
    async fn unauthorized_answers_name_the_bearer_scheme() {
        let res = ApiError::unauthenticated().error_response();
        assert_eq!(res.headers().get(header::WWW_AUTHENTICATE).map(|v| v.as_bytes()), Some(&b"Bearer"[..]));
    }
}
