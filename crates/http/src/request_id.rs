//! `X-Request-Id`: honoured when the client sends a sane one, generated (UUID v7) otherwise,
//! returned on every response, recorded on the request's tracing span, and readable by the
//! error renderer through [`current`].
//!
//! The request's identifiers ([`RequestIds`]: the id, the trace id, the caller once known)
//! travel in a `tokio::task_local!` scoped around the inner service. That reaches the error
//! renderer because actix builds error responses (extractor and handler errors alike) inside
//! the handler's future, which runs within the scope; and it reaches every log line written
//! while the request is served (`brokerage_app::json_lines`), also when no spans are built
//! (without a trace exporter the app turns spans off: they cost several µs per request).

use crate::{metrics, trace_context};
use actix_web::Error;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::error::InternalError;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use std::fmt::Display;
use std::sync::{Arc, OnceLock};
use std::time::Instant;
use tracing::Instrument;
use uuid::Uuid;

pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

const MAX_LEN: usize = 128;

/// The identifiers of the request being served, for its log lines.
#[derive(Debug)]
pub struct RequestIds {
    /// `X-Request-Id`.
    pub id: String,
    /// The W3C trace id (32 hex digits): the caller's, or a new one.
    pub trace_id: String,
    user_id: OnceLock<String>,
}

impl RequestIds {
    pub fn new(id: String, trace_id: String) -> Arc<Self> {
        Arc::new(Self { id, trace_id, user_id: OnceLock::new() })
    }

    /// The authenticated caller, once known.
    pub fn user_id(&self) -> Option<&str> {
        self.user_id.get().map(String::as_str)
    }
}

tokio::task_local! {
    static REQUEST: Arc<RequestIds>;
}

/// The id of the request being served, if called within the middleware.
pub fn current() -> Option<String> {
    REQUEST.try_with(|ids| ids.id.clone()).ok()
}

/// `f` on the identifiers of the request being served; `None` outside a request.
pub fn with_current<R>(f: impl FnOnce(&RequestIds) -> R) -> Option<R> {
    REQUEST.try_with(|ids| f(ids)).ok()
}

/// Runs `f` as if inside the request `ids` (for what the middleware does after the inner
/// services finished, and for tests).
pub fn in_request<R>(ids: Arc<RequestIds>, f: impl FnOnce() -> R) -> R {
    REQUEST.sync_scope(ids, f)
}

/// Records the authenticated caller on the request: on its span (`user.id`, for traces) and
/// in its identifiers (for its log lines). The first caller recorded stays: the access
/// middleware and the `Authenticated` extractor both record the same one, and the second
/// does nothing.
pub fn record_user(user: impl Display) {
    if with_current(|ids| ids.user_id().is_some()) == Some(true) {
        return;
    }
    let user = user.to_string();
    tracing::Span::current().record("user.id", user.as_str());
    let _ = with_current(|ids| ids.user_id.set(user));
}

/// A client-sent id is kept when it is 1 to 128 visible ASCII characters: it goes into logs
/// and a response header, so nothing else may pass.
fn is_acceptable(id: &str) -> bool {
    (1..=MAX_LEN).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_graphic())
}

fn id_for(req: &ServiceRequest) -> String {
    req.headers()
        .get(&REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|id| is_acceptable(id))
        .map_or_else(|| Uuid::now_v7().to_string(), str::to_owned)
}

/// What a request was routed to: the matched pattern (`/api/v1/orders/{id}`), so metrics and
/// span names stay low-cardinality; `unmatched` when no route matched.
fn route_of(req: &actix_web::HttpRequest) -> String {
    req.match_pattern().unwrap_or_else(|| "unmatched".to_owned())
}

/// The name of each request's root span.
const REQUEST_SPAN: &str = "http.request";

/// The middleware (`middleware::from_fn(request_id::middleware)`); wrap it outside every other
/// middleware that may produce errors, so they carry the id too.
///
/// It also opens the request's root span (OpenTelemetry HTTP server conventions:
/// `http.request.method`, `http.route`, `http.response.status_code`, `user.id` recorded by
/// the [`Authenticated`](crate::Authenticated) extractor), continues an incoming W3C
/// `traceparent`, records the request metrics and writes the one access-log line per request.
pub async fn middleware<B: MessageBody + 'static>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<B>, Error> {
    let id = id_for(&req);
    let header_value = HeaderValue::from_str(&id).ok();
    let method = req.method().clone();
    let span = tracing::info_span!(
        REQUEST_SPAN,
        otel.name = %method,
        otel.kind = "server",
        otel.status_code = tracing::field::Empty,
        request_id = %id,
        trace_id = tracing::field::Empty,
        http.request.method = %method,
        url.path = %req.path(),
        http.route = tracing::field::Empty,
        http.response.status_code = tracing::field::Empty,
        user.id = tracing::field::Empty,
    );
    let trace_id = trace_context::continue_trace(&span, req.headers());
    span.record("trace_id", trace_id.as_str());
    let ids = RequestIds::new(id, trace_id);
    let started = Instant::now();
    // Creating the inner future may already do work (routing), so scope that too.
    let inner = in_request(ids.clone(), || span.in_scope(|| next.call(req)));
    let result = REQUEST.scope(ids.clone(), inner).instrument(span.clone()).await;
    let (status, route) = match &result {
        Ok(res) => (res.status(), route_of(res.request())),
        Err(e) => (e.as_response_error().status_code(), "unmatched".to_owned()),
    };
    let elapsed = started.elapsed();
    span.record("http.route", route.as_str());
    trace_context::rename(&span, method.as_str(), &route);
    span.record("http.response.status_code", status.as_u16());
    if status.is_server_error() {
        span.record("otel.status_code", "ERROR");
    }
    metrics::record_request(method.as_str(), &route, status.as_u16(), elapsed);
    in_request(ids.clone(), || {
        let _entered = span.enter();
        tracing::info!(
            http.request.method = %method,
            http.route = %route,
            http.response.status_code = status.as_u16(),
            duration_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
            "request served"
        );
    });
    match result {
        Ok(mut res) => {
            if let Some(value) = header_value {
                res.headers_mut().insert(REQUEST_ID_HEADER, value);
            }
            Ok(res)
        }
        // An error escaping the inner services (the request is gone, so no `ServiceResponse`
        // can be built here): render it now, inside the scope, and hand actix that response.
        Err(e) => {
            let mut res = in_request(ids, || span.in_scope(|| e.error_response()));
            if let Some(value) = header_value {
                res.headers_mut().insert(REQUEST_ID_HEADER, value);
            }
            Err(InternalError::from_response(e, res).into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_short_visible_ascii_ids_are_accepted() {
        assert!(is_acceptable("abc-123_XYZ.:/"));
        assert!(is_acceptable(&"x".repeat(128)));
        for bad in ["", " ", "with space", "tab\t", "é", &"x".repeat(129)] {
            assert!(!is_acceptable(bad), "{bad:?}");
        }
    }

    #[tokio::test]
    async fn current_sees_the_scoped_id_only_inside_the_scope() {
        assert_eq!(current(), None);
        let ids = RequestIds::new("abc".to_owned(), "t".repeat(32));
        let seen = REQUEST.scope(ids.clone(), async { current() }).await;
        assert_eq!(seen.as_deref(), Some("abc"));
    }

    #[tokio::test]
    async fn the_caller_is_recorded_once_and_only_inside_a_request() {
        record_user("nobody");
        let ids = RequestIds::new("abc".to_owned(), "t".repeat(32));
        let seen = REQUEST
            .scope(ids.clone(), async {
                record_user("u-1");
                record_user("u-2");
                with_current(|ids| ids.user_id().map(str::to_owned))
            })
            .await;
        assert_eq!(seen.flatten().as_deref(), Some("u-1"));
        assert_eq!(ids.user_id(), Some("u-1"));
    }
}
