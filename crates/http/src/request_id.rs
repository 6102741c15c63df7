//! `X-Request-Id`: honoured when the client sends a sane one, generated (UUID v7) otherwise,
//! returned on every response, recorded on the request's tracing span, and readable by the
//! error renderer through [`current`].
//!
//! The id travels in a `tokio::task_local!` scoped around the inner service. That reaches the
//! error renderer because actix builds error responses (extractor and handler errors alike)
//! inside the handler's future, which runs within the scope.

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

/// The middleware (`middleware::from_fn(request_id::middleware)`); wrap it outside every other
/// middleware that may produce errors, so they carry the id too.
pub async fn middleware<B: MessageBody + 'static>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<B>, Error> {
    let id = id_for(&req);
    let header_value = HeaderValue::from_str(&id).ok();
    let span = tracing::info_span!(
        "http.request",
        request_id = %id,
        http.method = %req.method(),
        http.path = %req.path(),
        http.status = tracing::field::Empty,
    );
    let started = Instant::now();
    // Creating the inner future may already do work (routing), so scope that too.
    let inner = REQUEST_ID.sync_scope(id.clone(), || next.call(req));
    let result = REQUEST_ID.scope(id.clone(), inner).instrument(span.clone()).await;
    let status = match &result {
        Ok(res) => res.status(),
        Err(e) => e.as_response_error().status_code(),
    };
    span.record("http.status", status.as_u16());
    span.in_scope(|| tracing::info!(latency_ms = started.elapsed().as_millis() as u64, "request served"));
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
