//! RBAC at the edge: for every route in the access table that needs a permission, the caller
//! is authenticated (bearer token, or the signature `api_key_auth` verified) and its permission
//! checked BEFORE the handler reads the body, so a forbidden caller gets 401/403 whatever it
//! sent. The caller is left in the request for the [`Authenticated`](crate::Authenticated)
//! extractor, so the session is checked once per request.

use crate::access::{Access, route_for};
use crate::api_key_auth::SignedCaller;
use crate::errors::ApiError;
use crate::extract::bearer_token;
use crate::state::ApiState;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage, web};
use brokerage_domain::Principal;

/// The caller, authenticated and authorized for the route by this middleware.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AuthorizedCaller(pub Principal);

pub async fn middleware<B: MessageBody + 'static>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, Error> {
    let Some(Access::Needs(permission)) = route_for(req.method().as_str(), req.path()).map(|r| r.access) else {
        return next.call(req).await.map(ServiceResponse::map_into_left_body);
    };
    match caller(&req).await {
        Ok(who) if who.can(permission) => {
            crate::request_id::record_user(who.user_id);
            req.extensions_mut().insert(AuthorizedCaller(who));
            next.call(req).await.map(ServiceResponse::map_into_left_body)
        }
        Ok(_) => Ok(req.error_response(ApiError::forbidden()).map_into_right_body()),
        Err(e) => Ok(req.error_response(e).map_into_right_body()),
    }
}

async fn caller(req: &ServiceRequest) -> Result<Principal, ApiError> {
    if let Some(SignedCaller(principal)) = req.extensions().get::<SignedCaller>().copied() {
        return Ok(principal);
    }
    let state = req
        .app_data::<web::Data<ApiState>>()
        .cloned()
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("ApiState is not registered as app data")))?;
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer_token)
        .ok_or_else(ApiError::unauthenticated)?
        .to_owned();
    // The session check makes a logout effective at once on every instance.
    Ok(state.auth.authenticate(&token).await?)
}
