//! Middleware that gives the error envelope to error responses built without one: actix's own
//! 404 and 405, and anything else that answers an error with an empty or non-JSON body.
//! Our handlers' errors already carry the envelope and pass through untouched.

use crate::errors::ApiError;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderMap};
use actix_web::middleware::Next;
use actix_web::{Error, ResponseError};

fn has_json_body(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.trim_start().to_ascii_lowercase().starts_with("application/json"))
}

/// The middleware (`middleware::from_fn(error_envelope::middleware)`); wrap it inside the
/// request-id middleware so the envelope it writes carries the id.
pub async fn middleware<B: MessageBody + 'static>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, Error> {
    let res = next.call(req).await?;
    let status = res.status();
    if !(status.is_client_error() || status.is_server_error()) || has_json_body(res.headers()) {
        return Ok(res.map_into_left_body());
    }
    let (req, bare) = res.into_parts();
    let mut enveloped = ApiError::for_status(status).error_response();
    // Keep what the original said besides its body (e.g. `Allow` on a 405).
    for (name, value) in bare.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH && !enveloped.headers().contains_key(name) {
            enveloped.headers_mut().append(name.clone(), value.clone());
        }
    }
    Ok(ServiceResponse::new(req, enveloped).map_into_right_body())
}
