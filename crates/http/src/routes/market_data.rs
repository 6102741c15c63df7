//! `GET /market-data/quotes/{symbol}`: the one API answer that shared caches may keep.

use crate::dto::{ClockResponse, QuoteResponse};
use crate::errors::ApiError;
use crate::extract::Authenticated;
use crate::state::ApiState;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, web};
use brokerage_domain::market::{Quote, Symbol};

/// `public, max-age=<seconds left of the cached quote's freshness>`: 0 for a stale quote and
/// for an uncached provider (the simulated market moves every second).
fn cache_control(quote: &Quote) -> HeaderValue {
    let seconds = quote.max_age.map_or(0, |left| left.as_secs());
    HeaderValue::from_str(&format!("public, max-age={seconds}")).unwrap_or(HeaderValue::from_static("no-store"))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/market-data/quotes/{symbol}").route(web::get().to(quote)));
    cfg.service(web::resource("/market-data/clock").route(web::get().to(clock)));
}

#[utoipa::path(
    get, path = "/api/v1/market-data/quotes/{symbol}", operation_id = "get_quote", tag = "market-data",
    params(("symbol" = String, Path, description = "A ticker symbol, e.g. `AAPL`")),
    responses(
        (status = 200, description = "The latest quote; `stale` when served from cache while the provider fails", body = QuoteResponse,
            headers(("Cache-Control" = String, description = "`public, max-age=<seconds left of the quote cache's TTL>`"))),
        (status = 404, description = "`unknown_symbol`", body = crate::openapi::ErrorEnvelope),
        (status = 503, description = "`unavailable`: the provider is down and nothing is cached", body = crate::openapi::ErrorEnvelope),
    ),
    security(("bearer" = []), ("api_key" = [])),
)]
async fn quote(
    state: web::Data<ApiState>,
    _caller: Authenticated,
    symbol: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let symbol = Symbol::parse(&symbol).map_err(|_| ApiError::unknown_symbol())?;
    let quote = state.quotes.quote(&symbol).await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, cache_control(&quote)))
        .json(QuoteResponse::from(quote)))
}

#[utoipa::path(
    get, path = "/api/v1/market-data/clock", operation_id = "get_clock", tag = "market-data",
    responses(
        (status = 200, description = "Whether the US regular session (09:30–16:00 New York, weekdays, minus holidays) is open; \
            when the market is configured always open, `next_open` is now and `next_close` is null", body = ClockResponse),
    ),
    security(("bearer" = []), ("api_key" = [])),
)]
async fn clock(state: web::Data<ApiState>, _caller: Authenticated) -> HttpResponse {
    HttpResponse::Ok().json(ClockResponse::from(state.orders.market_clock()))
}
