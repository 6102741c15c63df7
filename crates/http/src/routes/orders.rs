//! `POST /orders`, `GET /orders`, `GET /orders/{id}`,
//! `GET /orders/by-client-id/{client_order_id}`, `DELETE /orders/{id}`.

use crate::dto::{OrderRequest, OrderResponse, OrdersQuery, PageResponse};
use crate::errors::ApiError;
use crate::extract::Authenticated;
use crate::state::ApiState;
use actix_web::{HttpResponse, web};
use brokerage_domain::ids::OrderId;
use uuid::Uuid;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/orders").route(web::post().to(place)).route(web::get().to(list)))
        .service(web::resource("/orders/by-client-id/{client_order_id}").route(web::get().to(by_client_id)))
        .service(web::resource("/orders/{id}").route(web::get().to(get)).route(web::delete().to(cancel)));
}

/// An id that is not a UUID names no order: 404, like any unknown id.
fn order_id(raw: &str) -> Result<OrderId, ApiError> {
    Uuid::parse_str(raw).map(OrderId::from_uuid).map_err(|_| ApiError::not_found())
}

async fn place(
    state: web::Data<ApiState>,
    Authenticated(who): Authenticated,
    body: web::Json<OrderRequest>,
) -> Result<HttpResponse, ApiError> {
    let input = body.into_inner().try_into_domain()?;
    let order = state.orders.place(&who, input).await?;
    Ok(HttpResponse::Created().json(OrderResponse::from(order)))
}

async fn list(
    state: web::Data<ApiState>,
    Authenticated(who): Authenticated,
    query: web::Query<OrdersQuery>,
) -> Result<HttpResponse, ApiError> {
    let (filter, page) = query.into_inner().try_into_domain()?;
    let page = state.orders.list(&who, &filter, &page).await?;
    Ok(HttpResponse::Ok().json(PageResponse::from_page(page, OrderResponse::from)))
}

async fn get(
    state: web::Data<ApiState>,
    Authenticated(who): Authenticated,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let order = state.orders.get(&who, order_id(&id)?).await?;
    Ok(HttpResponse::Ok().json(OrderResponse::from(order)))
}

async fn by_client_id(
    state: web::Data<ApiState>,
    Authenticated(who): Authenticated,
    client_order_id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let order = state.orders.get_by_client_id(&who, &client_order_id).await?;
    Ok(HttpResponse::Ok().json(OrderResponse::from(order)))
}

async fn cancel(
    state: web::Data<ApiState>,
    Authenticated(who): Authenticated,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let order = state.orders.cancel(&who, order_id(&id)?).await?;
    Ok(HttpResponse::Ok().json(OrderResponse::from(order)))
}
