//! `GET /market-data/quotes/{symbol}`: the one API answer that shared caches may keep.

use crate::dto::QuoteResponse;
use crate::errors::ApiError;
use crate::extract::Authenticated;
use crate::state::ApiState;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, web};
use brokerage_domain::market::Symbol;

/// Matches the quote cache's default TTL (60 s).
const QUOTE_CACHE_CONTROL: HeaderValue = HeaderValue::from_static("public, max-age=60");

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/market-data/quotes/{symbol}").route(web::get().to(quote)));
}

async fn quote(
    state: web::Data<ApiState>,
    _caller: Authenticated,
    symbol: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let symbol = Symbol::parse(&symbol).map_err(|_| ApiError::unknown_symbol())?;
    let quote = state.quotes.quote(&symbol).await?;
    Ok(HttpResponse::Ok().insert_header((header::CACHE_CONTROL, QUOTE_CACHE_CONTROL)).json(QuoteResponse::from(quote)))
}
