//! `POST /orders`, `GET /orders`, `GET /orders/{id}`,
//! `GET /orders/by-client-id/{client_order_id}`, `PATCH /orders/{id}`, `DELETE /orders/{id}`,
//! `DELETE /orders`.

use crate::dto::orders::CancelOutcomeResponse;
use crate::dto::{OrderRequest, OrderResponse, OrdersQuery, PageResponse, ReplaceOrderRequest};
use crate::errors::ApiError;
use crate::extract::Authenticated;
use crate::idempotency::request_key;
use crate::metrics;
use crate::state::ApiState;
use actix_web::{HttpRequest, HttpResponse, web};
use brokerage_domain::ids::OrderId;
use uuid::Uuid;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/orders")
            .route(web::post().to(place))
            .route(web::get().to(list))
            .route(web::delete().to(cancel_all)),
    )
    .service(web::resource("/orders/by-client-id/{client_order_id}").route(web::get().to(by_client_id)))
    .service(
        web::resource("/orders/{id}")
            .route(web::get().to(get))
            .route(web::patch().to(replace))
            .route(web::delete().to(cancel)),
    );
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
    req: HttpRequest,
    body: web::Json<OrderRequest>,
) -> Result<HttpResponse, ApiError> {
    let input = body.into_inner().try_into_domain().inspect_err(|e| metrics::order_rejected("invalid", e.code()))?;
    let order_type = input.order_type.as_str();
    let placed = state.orders.place_keyed(&who, input, request_key(&req)).await.map_err(ApiError::from);
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

#[utoipa::path(
    patch, path = "/api/v1/orders/{id}", operation_id = "replace_order", tag = "orders",
    params(("id" = uuid::Uuid, Path, description = "The open order's `id`")),
    request_body = ReplaceOrderRequest,
    responses(
        (status = 200, description = "The new order (`replaces` names the old one, which is now `replaced` with \
            `replaced_by`); held cash or shares move to it in the same step. It fills at once when marketable", body = OrderResponse),
        (status = 409, description = "`duplicate_client_order_id`: this account already used the new `client_order_id`", body = crate::openapi::ErrorEnvelope),
        (status = 422, description = "`order_not_cancelable`: the order is no longer open; `insufficient_buying_power`, \
            `insufficient_position`, `symbol_halted`, `market_closed`, `account_not_active`: the new order cannot be placed \
            (the old one stays as it was)", body = crate::openapi::ErrorEnvelope),
    ),
    security(("bearer" = []), ("api_key" = [])),
)]
async fn replace(
    state: web::Data<ApiState>,
    Authenticated(who): Authenticated,
    id: web::Path<String>,
    body: web::Json<ReplaceOrderRequest>,
) -> Result<HttpResponse, ApiError> {
    let id = order_id(&id)?;
    let changes = body.into_inner().try_into_domain()?;
    let order = state.orders.replace(&who, id, changes).await?;
    Ok(HttpResponse::Ok().json(OrderResponse::from(order)))
}

#[utoipa::path(
    delete, path = "/api/v1/orders", operation_id = "cancel_all_orders", tag = "orders",
    responses(
        (status = 207, description = "One entry per open order: `status` is the HTTP status of its cancel (200, or \
            422 `order_not_cancelable` when it closed meanwhile) and `body` the order or the error envelope. \
            No open order: `[]`", body = Vec<CancelOutcomeResponse>),
    ),
    security(("bearer" = []), ("api_key" = [])),
)]
async fn cancel_all(state: web::Data<ApiState>, Authenticated(who): Authenticated) -> Result<HttpResponse, ApiError> {
    let outcomes = state.orders.cancel_all(&who).await?;
    let entries: Vec<CancelOutcomeResponse> = outcomes
        .into_iter()
        .map(|(id, outcome)| match outcome {
            Ok(order) => CancelOutcomeResponse::canceled(order),
            Err(e) => CancelOutcomeResponse::refused(id, &ApiError::from(e)),
        })
        .collect();
    Ok(HttpResponse::build(actix_web::http::StatusCode::MULTI_STATUS).json(entries))
}
