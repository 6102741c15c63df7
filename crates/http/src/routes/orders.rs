//! `POST /orders`, `GET /orders`, `GET /orders/{id}`,
//! `GET /orders/by-client-id/{client_order_id}`, `DELETE /orders/{id}`.

use crate::dto::{OrderRequest, OrderResponse, OrdersQuery, PageResponse};
use crate::errors::ApiError;
use crate::extract::Authenticated;
use crate::metrics;
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

#[utoipa::path(
    post, path = "/api/v1/orders", operation_id = "place_order", tag = "orders",
    request_body = OrderRequest,
    responses(
        (status = 201, description = "The order: filled at once (market, marketable limit), canceled (ioc/fok that cannot fill) or resting", body = OrderResponse),
        (status = 409, description = "`duplicate_client_order_id`: this account already used the `client_order_id`", body = crate::openapi::ErrorEnvelope),
        (status = 422, description = "`insufficient_buying_power`, `insufficient_position`, `unknown_symbol`, `account_not_active`", body = crate::openapi::ErrorEnvelope),
    ),
    security(("bearer" = []), ("api_key" = [])),
)]
async fn place(
    state: web::Data<ApiState>,
    Authenticated(who): Authenticated,
    body: web::Json<OrderRequest>,
) -> Result<HttpResponse, ApiError> {
    let input = body.into_inner().try_into_domain().inspect_err(|e| metrics::order_rejected("invalid", e.code()))?;
    let order_type = input.order_type.as_str();
    let placed = state.orders.place(&who, input).await.map_err(ApiError::from);
    metrics::order_outcome(order_type, &placed);
    Ok(HttpResponse::Created().json(OrderResponse::from(placed?)))
}

#[utoipa::path(
    get, path = "/api/v1/orders", operation_id = "list_orders", tag = "orders",
    params(OrdersQuery),
    responses((status = 200, description = "The caller's orders, newest first", body = PageResponse<OrderResponse>)),
    security(("bearer" = []), ("api_key" = [])),
)]
async fn list(
    state: web::Data<ApiState>,
    Authenticated(who): Authenticated,
    query: web::Query<OrdersQuery>,
) -> Result<HttpResponse, ApiError> {
    let (filter, page) = query.into_inner().try_into_domain()?;
    let page = state.orders.list(&who, &filter, &page).await?;
    Ok(HttpResponse::Ok().json(PageResponse::from_page(page, OrderResponse::from)))
}

#[utoipa::path(
    get, path = "/api/v1/orders/{id}", operation_id = "get_order", tag = "orders",
    params(("id" = uuid::Uuid, Path, description = "The order's `id`")),
    responses((status = 200, description = "The order", body = OrderResponse)),
    security(("bearer" = []), ("api_key" = [])),
)]
async fn get(
    state: web::Data<ApiState>,
    Authenticated(who): Authenticated,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let order = state.orders.get(&who, order_id(&id)?).await?;
    Ok(HttpResponse::Ok().json(OrderResponse::from(order)))
}

#[utoipa::path(
    get, path = "/api/v1/orders/by-client-id/{client_order_id}", operation_id = "get_order_by_client_id", tag = "orders",
    params(("client_order_id" = String, Path, description = "The `client_order_id` the order was placed with")),
    responses((status = 200, description = "The order", body = OrderResponse)),
    security(("bearer" = []), ("api_key" = [])),
)]
async fn by_client_id(
    state: web::Data<ApiState>,
    Authenticated(who): Authenticated,
    client_order_id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let order = state.orders.get_by_client_id(&who, &client_order_id).await?;
    Ok(HttpResponse::Ok().json(OrderResponse::from(order)))
}

#[utoipa::path(
    delete, path = "/api/v1/orders/{id}", operation_id = "cancel_order", tag = "orders",
    params(("id" = uuid::Uuid, Path, description = "The order's `id`")),
    responses(
        (status = 200, description = "The order, now `canceled`; held cash or shares are released", body = OrderResponse),
        (status = 422, description = "`order_not_cancelable`: the order is no longer open", body = crate::openapi::ErrorEnvelope),
    ),
    security(("bearer" = []), ("api_key" = [])),
)]
async fn cancel(
    state: web::Data<ApiState>,
    Authenticated(who): Authenticated,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let order = state.orders.cancel(&who, order_id(&id)?).await?;
    Ok(HttpResponse::Ok().json(OrderResponse::from(order)))
}
