//! `GET /positions` (a page) and `GET /positions/{symbol}`.

use crate::dto::{PageQuery, PageResponse, PositionResponse};
use crate::errors::ApiError;
use crate::extract::Authenticated;
use crate::state::ApiState;
use actix_web::{HttpResponse, web};
use brokerage_domain::market::Symbol;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/positions").route(web::get().to(list)))
        .service(web::resource("/positions/{symbol}").route(web::get().to(get)));
}

#[utoipa::path(
    get, path = "/api/v1/positions", operation_id = "list_positions", tag = "positions",
    params(PageQuery),
    responses((status = 200, description = "Open positions by symbol; `next_cursor` is a symbol", body = PageResponse<PositionResponse>)),
    security(("bearer" = []), ("api_key" = [])),
)]
async fn list(
    state: web::Data<ApiState>,
    Authenticated(who): Authenticated,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = query.into_inner().try_into_domain(|c| Symbol::parse(c).ok())?;
    let page = state.orders.positions(&who, &page).await?;
    Ok(HttpResponse::Ok().json(PageResponse::from_page(page, PositionResponse::from)))
}

#[utoipa::path(
    get, path = "/api/v1/positions/{symbol}", operation_id = "get_position", tag = "positions",
    params(("symbol" = String, Path, description = "A ticker symbol, e.g. `AAPL`")),
    responses((status = 200, description = "The position, valued at the current quote", body = PositionResponse)),
    security(("bearer" = []), ("api_key" = [])),
)]
async fn get(
    state: web::Data<ApiState>,
    Authenticated(who): Authenticated,
    symbol: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    // No position can exist under a symbol that cannot exist.
    let symbol = Symbol::parse(&symbol).map_err(|_| ApiError::not_found())?;
    let position = state.orders.position(&who, &symbol).await?;
    Ok(HttpResponse::Ok().json(PositionResponse::from(position)))
}
