//! `X-Request-Id`: honoured when the client sends a sane one, generated (UUID v7) otherwise,
//! returned on every response, recorded on the request's tracing span, and readable by the
//! error renderer through [`current`].
//!
//! The id travels in a `tokio::task_local!` scoped around the inner service. That reaches the
//! error renderer because actix builds error responses (extractor and handler errors alike)
//! inside the handler's future, which runs within the scope.

use crate::{metrics, trace_context};
use actix_web::Error;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::error::InternalError;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use std::time::Instant;
use tracing::Instrument;
use uuid::Uuid;

pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

const MAX_LEN: usize = 128;

tokio::task_local! {
    static REQUEST_ID: String;
}

/// The id of the request being served, if called within the middleware.
pub fn current() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
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
    span.record("trace_id", trace_context::continue_trace(&span, req.headers()).as_str());
    let started = Instant::now();
    // Creating the inner future may already do work (routing), so scope that too.
    let inner = REQUEST_ID.sync_scope(id.clone(), || span.in_scope(|| next.call(req)));
    let result = REQUEST_ID.scope(id.clone(), inner).instrument(span.clone()).await;
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
    span.in_scope(|| {
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
            let mut res = REQUEST_ID.sync_scope(id, || span.in_scope(|| e.error_response()));
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
        let seen = REQUEST_ID.scope("abc".to_owned(), async { current() }).await;
        assert_eq!(seen.as_deref(), Some("abc"));
    }
}
