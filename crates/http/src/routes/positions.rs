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

async fn list(
    state: web::Data<ApiState>,
    Authenticated(who): Authenticated,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = query.into_inner().try_into_domain(|c| Symbol::parse(c).ok())?;
    let page = state.orders.positions(&who, &page).await?;
    Ok(HttpResponse::Ok().json(PageResponse::from_page(page, PositionResponse::from)))
}

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
