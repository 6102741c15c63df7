//! Rate limiting: one class per request, counted by the [`RateLimiter`] port (Redis in
//! production, so every instance shares the budget).
//!
//! | class | requests | limit (default) | counted per |
//! |---|---|---|---|
//! | `login` | `POST /api/v1/auth/login` | 5 / 15 min | client IP |
//! | `trading` | `POST`/`PATCH`/`DELETE` under `/api/v1/orders` and `/api/v1/positions` | 10 / s | user (IP when the caller has no valid bearer token) |
//! | `general` | every other `/api/v1` request | 100 / min | user (IP when the caller has no valid bearer token) |
//!
//! `/health/*`, `/metrics` and `/api-docs` are never limited. Limited routes answer with
//! `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset` (seconds); over the limit,
//! 429 `rate_limited` with `Retry-After`.
//!
//! When the limiter fails (Redis down or slower than [`RateLimitPolicy::timeout`]): login
//! fails closed (503 `unavailable`, a password-guessing window must not open because a cache
//! is down); the other classes follow [`RateLimitPolicy::fail_open`] (default: let the
//! request through, log a warning and count `brokerage_rate_limit_errors_total`).
//!
//! Per-account login limits (by e-mail) belong in the auth service, which reads the body:
//! see [`brokerage_domain::limits::login_failure_key`].

use crate::errors::ApiError;
use crate::metrics;
use crate::state::ApiState;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{Error, HttpResponse, ResponseError, web};
use brokerage_domain::limits::Decision;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

pub const RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("ratelimit-limit");
pub const RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("ratelimit-remaining");
pub const RATELIMIT_RESET: HeaderName = HeaderName::from_static("ratelimit-reset");

/// At most `limit` requests per `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub limit: u32,
    pub window: Duration,
}

impl Limit {
    pub const fn new(limit: u32, window: Duration) -> Self {
        Self { limit, window }
    }
}

/// The limits of each class and what to do when the limiter fails.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimitPolicy {
    /// Off: nothing is counted and no headers are added.
    pub enabled: bool,
    pub login: Limit,
    pub trading: Limit,
    pub general: Limit,
    /// When the limiter fails, let `trading` and `general` requests through (login always
    /// fails closed).
    pub fail_open: bool,
    /// Count per the client address in `Forwarded`/`X-Forwarded-For` instead of the TCP peer.
    /// Only behind a proxy that sets these headers; otherwise clients could pick their IP.
    pub trust_forwarded_for: bool,
    /// How long the limiter may take before it counts as failed.
    pub timeout: Duration,
}

impl Default for RateLimitPolicy {
    fn default() -> Self {
        Self {
            enabled: true,
            login: Limit::new(5, Duration::from_secs(15 * 60)),
            trading: Limit::new(10, Duration::from_secs(1)),
            general: Limit::new(100, Duration::from_secs(60)),
            fail_open: true,
            trust_forwarded_for: false,
            timeout: Duration::from_millis(500),
        }
    }
}

/// Which budget a request spends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Login,
    Trading,
    General,
}

impl Class {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Login => "login",
            Self::Trading => "trading",
            Self::General => "general",
        }
    }

    /// The class of a request, `None` for unlimited paths (health, metrics, docs).
    pub fn of(method: &Method, path: &str) -> Option<Self> {
        let under =
            |prefix: &str| path == prefix || path.strip_prefix(prefix).is_some_and(|rest| rest.starts_with('/'));
        if !under("/api/v1") {
            return None;
        }
        if method == Method::POST && path.trim_end_matches('/') == "/api/v1/auth/login" {
            return Some(Self::Login);
        }
        let writes = matches!(*method, Method::POST | Method::PATCH | Method::DELETE);
        if writes && (under("/api/v1/orders") || under("/api/v1/positions")) {
            return Some(Self::Trading);
        }
        Some(Self::General)
    }

    fn limit(self, policy: &RateLimitPolicy) -> Limit {
        match self {
            Self::Login => policy.login,
            Self::Trading => policy.trading,
            Self::General => policy.general,
        }
    }

    fn fails_open(self, policy: &RateLimitPolicy) -> bool {
        self != Self::Login && policy.fail_open
    }
}

/// The client's address: the TCP peer, or the proxy-reported one when trusted.
fn client_ip(req: &ServiceRequest, trust_forwarded_for: bool) -> String {
    let raw = if trust_forwarded_for {
        req.connection_info().realip_remote_addr().map(str::to_owned)
    } else {
        req.peer_addr().map(|a| a.ip().to_string())
    };
    match raw {
        Some(raw) => raw
            .parse::<SocketAddr>()
            .map(|a| a.ip())
            .or_else(|_| raw.trim_matches(['[', ']']).parse::<IpAddr>())
            .map_or_else(|_| raw.chars().take(64).collect(), |ip| ip.to_string()),
        None => "unknown".to_owned(),
    }
}

/// The user a bearer token was signed for, if its signature and expiry check out (the
/// session check is the handler's). An unverifiable token counts per IP, so nobody can
/// spend another user's budget by naming them. API-key requests count per IP: their
/// signature covers the body, which a middleware does not read.
fn bearer_user(req: &ServiceRequest, state: &ApiState) -> Option<String> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    state.auth.token_user(token.trim()).map(|id| id.to_string())
}

fn subject(class: Class, req: &ServiceRequest, state: &ApiState, policy: &RateLimitPolicy) -> String {
    let user = match class {
        Class::Login => None,
        Class::Trading | Class::General => bearer_user(req, state),
    };
    user.map_or_else(|| format!("ip:{}", client_ip(req, policy.trust_forwarded_for)), |u| format!("user:{u}"))
}

fn insert_headers(headers: &mut HeaderMap, decision: &Decision) {
    let reset = decision.reset_after_secs();
    for (name, value) in [
        (RATELIMIT_LIMIT, u64::from(decision.limit)),
        (RATELIMIT_REMAINING, u64::from(decision.remaining)),
        (RATELIMIT_RESET, reset),
    ] {
        headers.insert(name, HeaderValue::from(value));
    }
    if !decision.allowed {
        headers.insert(header::RETRY_AFTER, HeaderValue::from(reset));
    }
}

/// The middleware (`middleware::from_fn(rate_limit::middleware)`); wrap it inside the
/// request-id middleware so refusals carry the request id and are logged and counted.
pub async fn middleware<B: MessageBody + 'static>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, Error> {
    let Some(state) = req.app_data::<web::Data<ApiState>>().cloned() else {
        return Ok(next.call(req).await?.map_into_left_body());
    };
    let policy = &state.ops.rate_limits;
    let (Some(limiter), Some(class), true) =
        (state.ops.rate_limiter.as_ref(), Class::of(req.method(), req.path()), policy.enabled)
    else {
        return Ok(next.call(req).await?.map_into_left_body());
    };
    let limit = class.limit(policy);
    let key = format!("{}:{}", class.as_str(), subject(class, &req, &state, policy));
    let outcome = tokio::time::timeout(policy.timeout, limiter.check(&key, limit.limit, limit.window)).await;
    let decision = match outcome {
        Ok(Ok(decision)) => decision,
        failed => {
            let cause = match failed {
                Ok(Err(e)) => anyhow::Error::new(e),
                _ => anyhow::anyhow!("no answer within {} ms", policy.timeout.as_millis()),
            };
            let open = class.fails_open(policy);
            metrics::rate_limit_error(class.as_str(), open);
            if open {
                tracing::warn!(
                    rate_limit.class = class.as_str(),
                    error = format!("{cause:#}"),
                    "rate limiter failed; request let through (fail open)"
                );
                return Ok(next.call(req).await?.map_into_left_body());
            }
            tracing::warn!(rate_limit.class = class.as_str(), "rate limiter failed; request refused (fail closed)");
            let err = ApiError::unavailable(cause.context("rate limiter failed"));
            let mut res = err.error_response();
            res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(1u64));
            return Ok(req.into_response(res).map_into_right_body());
        }
    };
    if !decision.allowed {
        metrics::rate_limited(class.as_str());
        tracing::info!(rate_limit.class = class.as_str(), "rate limit exceeded");
        let mut res: HttpResponse = ApiError::for_status(StatusCode::TOO_MANY_REQUESTS).error_response();
        insert_headers(res.headers_mut(), &decision);
        return Ok(req.into_response(res).map_into_right_body());
    }
    let mut res = next.call(req).await?;
    insert_headers(res.headers_mut(), &decision);
    Ok(res.map_into_left_body())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_follow_method_and_path() {
        let cases = [
            (Method::POST, "/api/v1/auth/login", Some(Class::Login)),
            (Method::GET, "/api/v1/auth/login", Some(Class::General)),
            (Method::POST, "/api/v1/auth/register", Some(Class::General)),
            (Method::POST, "/api/v1/orders", Some(Class::Trading)),
            (Method::PATCH, "/api/v1/orders/abc", Some(Class::Trading)),
            (Method::DELETE, "/api/v1/orders", Some(Class::Trading)),
            (Method::DELETE, "/api/v1/positions/AAPL", Some(Class::Trading)),
            (Method::GET, "/api/v1/orders", Some(Class::General)),
            (Method::POST, "/api/v1/ordersX", Some(Class::General)),
            (Method::GET, "/api/v1/account", Some(Class::General)),
            (Method::GET, "/health/ready", None),
            (Method::GET, "/metrics", None),
            (Method::GET, "/api-docs/openapi.json", None),
            (Method::GET, "/api/v1x", None),
        ];
        for (method, path, class) in cases {
            assert_eq!(Class::of(&method, path), class, "{method} {path}");
        }
    }

    #[test]
    fn login_always_fails_closed() {
        let open = RateLimitPolicy { fail_open: true, ..RateLimitPolicy::default() };
        assert!(!Class::Login.fails_open(&open));
        assert!(Class::Trading.fails_open(&open));
        let closed = RateLimitPolicy { fail_open: false, ..RateLimitPolicy::default() };
        assert!(!Class::General.fails_open(&closed));
    }

    #[test]
    fn refusals_say_when_to_retry() {
        let mut headers = HeaderMap::new();
        insert_headers(&mut headers, &Decision::from_count(6, 5, Duration::from_millis(2500)));
        let get = |n: HeaderName| headers.get(n).and_then(|v| v.to_str().ok()).map(str::to_owned);
        assert_eq!(get(RATELIMIT_LIMIT).as_deref(), Some("5"));
        assert_eq!(get(RATELIMIT_REMAINING).as_deref(), Some("0"));
        assert_eq!(get(RATELIMIT_RESET).as_deref(), Some("3"));
        assert_eq!(get(header::RETRY_AFTER).as_deref(), Some("3"));
    }
}
