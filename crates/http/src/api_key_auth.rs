//! Signed requests from programs: `X-Api-Key`, `X-Timestamp`, `X-Signature` (API.md).
//!
//! The signature covers the body, so this middleware reads the body (up to the JSON limit),
//! has the `ApiKeyService` check it, stores the caller for the [`Authenticated`] extractor and
//! hands the same bytes on to the handler. Requests without `X-Api-Key` pass untouched.
//!
//! [`Authenticated`]: crate::Authenticated

use crate::errors::ApiError;
use crate::state::ApiState;
use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::web;
use actix_web::{Error, HttpMessage};
use brokerage_domain::Principal;
use brokerage_domain::api_keys::SignedRequest;

pub const API_KEY_HEADER: &str = "x-api-key";
pub const TIMESTAMP_HEADER: &str = "x-timestamp";
pub const SIGNATURE_HEADER: &str = "x-signature";

/// The caller a verified signature proved, for the `Authenticated` extractor.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SignedCaller(pub Principal);

pub async fn middleware<B: MessageBody + 'static>(
    mut req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<actix_web::body::EitherBody<B>>, Error> {
    if !req.headers().contains_key(API_KEY_HEADER) {
        return next.call(req).await.map(ServiceResponse::map_into_left_body);
    }
    match verify(&mut req).await {
        Ok(principal) => {
            req.extensions_mut().insert(SignedCaller(principal));
            next.call(req).await.map(ServiceResponse::map_into_left_body)
        }
        Err(e) => Ok(req.error_response(e).map_into_right_body()),
    }
}

async fn verify(req: &mut ServiceRequest) -> Result<Principal, ApiError> {
    let state = req
        .app_data::<web::Data<ApiState>>()
        .cloned()
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("ApiState is not registered as app data")))?;
    let limit = req.app_data::<BodyLimit>().map_or(DEFAULT_BODY_LIMIT, |l| l.0);
    let body = crate::extract::read_body(req, limit).await?;
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let (key_id, timestamp, signature) = (header(API_KEY_HEADER), header(TIMESTAMP_HEADER), header(SIGNATURE_HEADER));
    let path_and_query = req.uri().path_and_query().map_or_else(|| req.path().to_owned(), |pq| pq.as_str().to_owned());
    let signed = SignedRequest {
        key_id: &key_id,
        timestamp: &timestamp,
        signature: &signature,
        method: req.method().as_str(),
        path_and_query: &path_and_query,
        body: &body,
    };
    let principal = state.api_keys.authenticate(&signed).await?;
    // Hand the verified bytes on, unchanged, to the handler's extractors.
    req.set_payload(Payload::from(body));
    Ok(principal)
}

const DEFAULT_BODY_LIMIT: usize = 64 * 1024;

/// The largest body a signed request may carry: the app registers the JSON body limit.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub usize);
