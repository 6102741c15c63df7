//! Handlers, one module per area. Each exposes `configure`, mounted by [`crate::routes`].
//! Handlers stay thin: extract, convert with `try_into_domain`, call one service, map the
//! answer to a response body. Errors convert to [`ApiError`](crate::ApiError) with `?`.

pub mod account;
pub mod admin;
pub mod api_keys;
pub mod auth;
pub mod events;
pub mod funding;
pub mod health;
pub mod market_data;
pub mod orders;
pub mod positions;
pub mod webhooks;

use crate::errors::ApiError;
use actix_web::HttpResponse;

/// The default service: an unknown path is a 404 `not_found` envelope.
pub async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::not_found())
}
