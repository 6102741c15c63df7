//! `GET /positions` (a page), `GET /positions/{symbol}`, `DELETE /positions/{symbol}` (close
//! at market) and `GET /portfolio`.

use crate::dto::{ClosePositionQuery, OrderResponse, PageQuery, PageResponse, PortfolioResponse, PositionResponse};
use crate::errors::ApiError;
use crate::extract::Authenticated;
use crate::state::ApiState;
use actix_web::{HttpResponse, web};
use brokerage_domain::market::Symbol;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/positions").route(web::get().to(list)))
        .service(web::resource("/positions/{symbol}").route(web::get().to(get)).route(web::delete().to(close)))
        .service(web::resource("/portfolio").route(web::get().to(portfolio)));
}

#[utoipa::path(
    get, path = "/api/v1/positions", operation_id = "list_positions", tag = "positions",
    params(
        ("limit" = Option<u16>, Query, minimum = 1, maximum = 500),
        ("after" = Option<String>, Query, pattern = r"^[ \t\r\n]*[A-Za-z][A-Za-z0-9.\-]{0,9}[ \t\r\n]*$", description = "The `next_cursor` of the previous page (a symbol)"),
    ),
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

#[utoipa::path(
    delete, path = "/api/v1/positions/{symbol}", operation_id = "close_position", tag = "positions",
    params(("symbol" = String, Path, description = "A ticker symbol, e.g. `AAPL`"), ClosePositionQuery),
    responses(
        (status = 200, description = "The market sell order that closes the position (or the part asked for)", body = OrderResponse),
        (status = 404, description = "`not_found`: no position in this symbol", body = crate::openapi::ErrorEnvelope),
        (status = 422, description = "`insufficient_position` (shares held by open sell orders), `market_closed`, \
            `symbol_halted`, `account_not_active`", body = crate::openapi::ErrorEnvelope),
    ),
    security(("bearer" = []), ("api_key" = [])),
)]
async fn close(
    state: web::Data<ApiState>,
    Authenticated(who): Authenticated,
    symbol: web::Path<String>,
    query: web::Query<ClosePositionQuery>,
) -> Result<HttpResponse, ApiError> {
    let size = query.into_inner().try_into_domain()?;
    let order = state.orders.close_position(&who, &symbol, size).await?;
    crate::metrics::order_placed(
        order.order_type.as_str(),
        order.status == brokerage_domain::orders::OrderStatus::Filled,
    );
    Ok(HttpResponse::Ok().json(OrderResponse::from(order)))
}

#[utoipa::path(
    get, path = "/api/v1/portfolio", operation_id = "get_portfolio", tag = "positions",
    responses((status = 200, description = "The account's equity, cash, P&L and every position valued at the current quote", body = PortfolioResponse)),
    security(("bearer" = []), ("api_key" = [])),
)]
async fn portfolio(state: web::Data<ApiState>, Authenticated(who): Authenticated) -> Result<HttpResponse, ApiError> {
    let portfolio = state.accounts.portfolio(&who).await?;
    Ok(HttpResponse::Ok().json(PortfolioResponse::from(portfolio)))
}
