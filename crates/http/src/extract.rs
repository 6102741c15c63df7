//! Extractor settings (JSON bodies, queries, paths) that answer with the error envelope, and
//! the [`Authenticated`] caller.

use crate::access::{API_ROUTES, Access};
use crate::api_key_auth::SignedCaller;
use crate::authorize::AuthorizedCaller;
use crate::errors::{ApiError, FieldDetail};
use crate::state::ApiState;
use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use brokerage_domain::rbac::Principal;
use futures_util::future::LocalBoxFuture;
use serde_json::error::Category;

/// JSON bodies: at most `limit` bytes (413), `application/json` only (415), and shape errors
/// as 400 `validation_error` naming the field when serde says which.
pub fn json_config(limit: usize) -> web::JsonConfig {
    web::JsonConfig::default().limit(limit).error_handler(|e, _| ApiError::from(e).into())
}

pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|e, _| ApiError::from(e).into())
}

pub fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|e, _| ApiError::from(e).into())
}

/// Field names echoed from the client's body are cut to this many characters.
const MAX_ECHOED_FIELD_CHARS: usize = 64;

/// A short, clean account of a JSON body serde refused. serde's own wording may name Rust
/// types (`expected struct OrderRequest`), so only the field names it reports are kept.
pub(crate) fn json_error_detail(e: &serde_json::Error) -> FieldDetail {
    let at = format!("(line {}, column {})", e.line(), e.column());
    match e.classify() {
        Category::Syntax | Category::Eof => FieldDetail::new("body", format!("is not valid JSON {at}")),
        Category::Io => FieldDetail::new("body", "could not be read"),
        Category::Data => data_error_detail(&e.to_string(), &at),
    }
}

fn data_error_detail(text: &str, at: &str) -> FieldDetail {
    let named = [
        ("unknown field `", "is not a known field"),
        ("missing field `", "is required"),
        ("duplicate field `", "is given more than once"),
    ];
    for (prefix, message) in named {
        if let Some((field, _)) = text.strip_prefix(prefix).and_then(|rest| rest.split_once('`')) {
            return FieldDetail::new(field.chars().take(MAX_ECHOED_FIELD_CHARS).collect::<String>(), message);
        }
    }
    let message = if text.contains("expected struct") || text.contains("expected a map") {
        "must be a JSON object".to_owned()
    } else if text.starts_with("invalid type") {
        format!("has a value of the wrong JSON type {at}")
    } else {
        format!("has an invalid value {at}")
    };
    FieldDetail::new("body", message)
}

/// The caller, from `Authorization: Bearer <access token>`. Missing or garbled → 401
/// `unauthenticated`; expired → 401 `token_expired`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Authenticated(pub Principal);

impl FromRequest for Authenticated {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        // The authorize middleware has done the work for every route of the access table.
        if let Some(AuthorizedCaller(principal)) = req.extensions().get::<AuthorizedCaller>().copied() {
            return Box::pin(async move { Ok(Authenticated(principal)) });
        }
        let required = required_access(req);
        // A signed API-key request was verified by the middleware already.
        if let Some(SignedCaller(principal)) = req.extensions().get::<SignedCaller>().copied() {
            return Box::pin(async move { authorize(principal, required) });
        }
        let state = req.app_data::<web::Data<ApiState>>().cloned();
        let token = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(bearer_token)
            .map(str::to_owned);
        Box::pin(async move {
            let state =
                state.ok_or_else(|| ApiError::internal(anyhow::anyhow!("ApiState is not registered as app data")))?;
            let token = token.ok_or_else(ApiError::unauthenticated)?;
            // The session check makes a logout effective at once on every instance.
            let who = state.auth.authenticate(&token).await?;
            // The request span (created by the request middleware) carries the caller.
            crate::request_id::record_user(who.user_id);
            authorize(who, required)
        })
    }
}

/// What the access table says the matched route needs; `None` when the route is missing from
/// the table, which is refused (deny by default).
fn required_access(req: &HttpRequest) -> Option<Access> {
    let pattern = req.match_pattern()?;
    API_ROUTES.iter().find(|r| r.method == req.method().as_str() && r.path == pattern).map(|r| r.access)
}

/// The edge check of RBAC, before the body is even read: a caller whose role (or API-key
/// scopes) lacks the route's permission gets 403 whatever it sent. Services check again.
fn authorize(who: Principal, required: Option<Access>) -> Result<Authenticated, ApiError> {
    match required {
        Some(Access::Public) => Ok(Authenticated(who)),
        Some(Access::Needs(permission)) if who.can(permission) => Ok(Authenticated(who)),
        Some(Access::Needs(_)) => Err(ApiError::forbidden()),
        None => {
            tracing::error!("an authenticated route is missing from access::API_ROUTES; refusing");
            Err(ApiError::forbidden())
        }
    }
}

/// The token of a `Bearer` credential (the scheme is case-insensitive, RFC 7235).
pub(crate) fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Reads a request body whole, refusing one over `limit` bytes (413), for middleware that must
/// see the body before the handler does (signatures, idempotency fingerprints); they hand the
/// bytes back with `ServiceRequest::set_payload`.
pub(crate) async fn read_body(
    req: &mut actix_web::dev::ServiceRequest,
    limit: usize,
) -> Result<actix_web::web::Bytes, ApiError> {
    use futures_util::StreamExt as _;
    let mut payload = req.take_payload();
    let mut body = actix_web::web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| ApiError::invalid_field("body", "could not be read"))?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::payload_too_large(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_tokens_are_read_case_insensitively() {
        assert_eq!(bearer_token("Bearer abc.def"), Some("abc.def"));
        assert_eq!(bearer_token("bearer   abc"), Some("abc"));
        for bad in ["", "Bearer", "Bearer ", "Basic abc", "abc"] {
            assert_eq!(bearer_token(bad), None, "{bad:?}");
        }
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Probe {
        qty: u32,
    }

    fn detail(body: &str) -> FieldDetail {
        json_error_detail(&serde_json::from_str::<Probe>(body).expect_err("must fail"))
    }

    #[test]
    fn serde_errors_name_the_field_when_serde_knows_it() {
        assert_eq!(detail(r#"{"qty": 1, "role": "admin"}"#), FieldDetail::new("role", "is not a known field"));
        assert_eq!(detail("{}"), FieldDetail::new("qty", "is required"));
        assert_eq!(detail(r#"{"qty": 1, "qty": 2}"#), FieldDetail::new("qty", "is given more than once"));
    }

    #[test]
    fn other_serde_errors_do_not_echo_rust_names() {
        let not_object = detail("5");
        assert_eq!(not_object, FieldDetail::new("body", "must be a JSON object"));
        let wrong_type = detail(r#"{"qty": "x"}"#);
        assert_eq!(wrong_type.field, "body");
        assert!(wrong_type.message.starts_with("has a value of the wrong JSON type"), "{wrong_type:?}");
        assert!(detail("{").message.starts_with("is not valid JSON"));
        assert!(!format!("{not_object:?}{wrong_type:?}").contains("Probe"));
    }
}
