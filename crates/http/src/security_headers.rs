//! HTTP hardening (OWASP REST Security cheat sheet): the security headers every response
//! carries, the request timeout, and CORS.
//!
//! | header | value |
//! |---|---|
//! | `X-Content-Type-Options` | `nosniff` |
//! | `X-Frame-Options` | `DENY` |
//! | `Content-Security-Policy` | `default-src 'none'; frame-ancestors 'none'`; under `/api-docs/` the Swagger UI's own policy ([`DOCS_CSP`]) |
//! | `Referrer-Policy` | `no-referrer` |
//! | `Cache-Control` | `no-store` unless the handler chose (market data: `public, max-age=…`) |
//! | `Strict-Transport-Security` | `max-age=31536000; includeSubDomains`, only with `http.hsts = true` (served behind TLS) |

use crate::errors::ApiError;
use crate::openapi::{DOCS_PATH, DOCUMENT_PATH};
use actix_cors::Cors;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::error::InternalError;
use actix_web::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, ResponseError, web};
use std::time::Duration;

/// The policy of JSON answers: load nothing, never be framed.
pub const API_CSP: &str = "default-src 'none'; frame-ancestors 'none'";

/// The Swagger UI page runs its bundled script and styles (inline style attributes included)
/// from this server, fetches the document from it, and shows data: images; nothing else.
pub const DOCS_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data:; font-src 'self' data:; connect-src 'self'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

pub const HSTS: &str = "max-age=31536000; includeSubDomains";

/// What the hardening middleware needs (registered as app data by [`crate::app`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hardening {
    /// Send `Strict-Transport-Security`: only when clients reach the service over TLS.
    pub hsts: bool,
    /// How long a handler may take before the request is answered 503 `unavailable`.
    pub request_timeout: Duration,
}

fn set_if_absent(headers: &mut HeaderMap, name: HeaderName, value: &'static str) {
    if !headers.contains_key(&name) {
        headers.insert(name, HeaderValue::from_static(value));
    }
}

/// Adds the security headers to `headers` of an answer to `path`.
pub fn apply(headers: &mut HeaderMap, path: &str, hsts: bool) {
    let docs_page = path.strip_prefix(DOCS_PATH).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        && path != DOCUMENT_PATH;
    set_if_absent(headers, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set_if_absent(headers, header::X_FRAME_OPTIONS, "DENY");
    set_if_absent(headers, header::REFERRER_POLICY, "no-referrer");
    // The handler's policy never widens the page's: ours replaces it.
    headers
        .insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(if docs_page { DOCS_CSP } else { API_CSP }));
    // The UI's files change with the binary only: browsers may keep them but must revalidate.
    set_if_absent(headers, header::CACHE_CONTROL, if docs_page { "no-cache" } else { "no-store" });
    if hsts {
        set_if_absent(headers, header::STRICT_TRANSPORT_SECURITY, HSTS);
    }
}

/// The security headers middleware (`middleware::from_fn`): on every answer, errors included.
pub async fn middleware<B: MessageBody + 'static>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<B>, Error> {
    let hsts = req.app_data::<web::Data<Hardening>>().is_some_and(|h| h.hsts);
    let path = req.path().to_owned();
    match next.call(req).await {
        Ok(mut res) => {
            apply(res.headers_mut(), &path, hsts);
            Ok(res)
        }
        // An error that escaped the inner layers is rendered by actix later: add the headers then.
        Err(mut err) => {
            err.add_response_mapper(move |mut res| {
                apply(res.headers_mut(), &path, hsts);
                res
            });
            Err(err)
        }
    }
}

/// The handler timeout middleware (`middleware::from_fn`): a request whose answer is not ready
/// within `http.request_timeout_secs` (body read included) is dropped and answered 503
/// `unavailable` with `Retry-After: 1`. Streaming bodies (server-sent events) are not cut: the
/// limit covers producing the answer's head only.
///
/// The request went down with the dropped handler, so the answer leaves as an error response
/// (rendered here, inside the request-id scope); the outer layers add their headers to it.
pub async fn timeout<B: MessageBody + 'static>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<B>, Error> {
    let limit = req.app_data::<web::Data<Hardening>>().map(|h| h.request_timeout).filter(|l| !l.is_zero());
    let Some(limit) = limit else {
        return next.call(req).await;
    };
    let (method, path) = (req.method().clone(), req.path().to_owned());
    match tokio::time::timeout(limit, next.call(req)).await {
        Ok(res) => res,
        Err(_) => {
            let err = ApiError::unavailable(anyhow::anyhow!(
                "{method} {path}: no answer within {limit:?} (http.request_timeout_secs)"
            ));
            let mut res = err.error_response();
            res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            Err(InternalError::from_response(err, res).into())
        }
    }
}

/// Checks the configured CORS origins: each exactly as browsers send `Origin`
/// (`scheme://host[:port]`, no path, no trailing slash, no wildcard).
pub fn validate_origins(origins: &[String]) -> Result<(), String> {
    for origin in origins {
        let uri: actix_web::http::Uri =
            origin.parse().map_err(|_| format!("CORS origin {origin:?} is not a valid origin"))?;
        let plain = matches!(uri.scheme_str(), Some("http" | "https"))
            && uri.host().is_some_and(|h| !h.is_empty() && h != "*")
            && uri.path_and_query().is_none_or(|p| p.as_str() == "/")
            && !origin.ends_with('/');
        if !plain {
            return Err(format!("CORS origin {origin:?} must be scheme://host[:port], e.g. https://app.example.com"));
        }
    }
    Ok(())
}

/// CORS for browser front-ends on other origins: none allowed unless configured. Requests from
/// other origins are not refused (same-origin tools keep working); they simply get no
/// `Access-Control-Allow-Origin`, so browsers do not let pages read the answers.
pub fn cors(allowed_origins: &[String]) -> Cors {
    let cors = allowed_origins.iter().fold(Cors::default(), |cors, origin| cors.allowed_origin(origin));
    cors.allowed_methods(["GET", "POST", "PUT", "PATCH", "DELETE"])
        .allowed_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::ACCEPT,
            HeaderName::from_static("idempotency-key"),
            HeaderName::from_static("x-request-id"),
            HeaderName::from_static("x-api-key"),
            HeaderName::from_static("x-timestamp"),
            HeaderName::from_static("x-signature"),
            HeaderName::from_static("last-event-id"),
        ])
        .expose_headers([
            HeaderName::from_static("x-request-id"),
            header::RETRY_AFTER,
            HeaderName::from_static("ratelimit-limit"),
            HeaderName::from_static("ratelimit-remaining"),
            HeaderName::from_static("ratelimit-reset"),
        ])
        .max_age(600)
        .block_on_origin_mismatch(false)
}
