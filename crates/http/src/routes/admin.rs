//! `GET /admin/users`, `PATCH /admin/users/{id}`, `GET /admin/orders`,
//! `POST /admin/symbols/{symbol}/halt|resume` (support reads, admin changes).

use crate::dto::{OrderResponse, OrdersQuery, PageQuery, PageResponse, UpdateUserRequest, UserResponse};
use crate::errors::ApiError;
use crate::extract::Authenticated;
use crate::state::ApiState;
use actix_web::{HttpResponse, web};
use brokerage_domain::UserId;
use uuid::Uuid;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/admin/users").route(web::get().to(list_users)))
        .service(web::resource("/admin/users/{id}").route(web::patch().to(update_user)))
        .service(web::resource("/admin/orders").route(web::get().to(list_orders)))
        .service(web::resource("/admin/symbols/{symbol}/halt").route(web::post().to(halt_symbol)))
        .service(web::resource("/admin/symbols/{symbol}/resume").route(web::post().to(resume_symbol)));
}

#[utoipa::path(
    get, path = "/api/v1/admin/users", operation_id = "admin_list_users", tag = "admin",
    params(PageQuery),
    responses((status = 200, description = "Every user (support and admin)", body = PageResponse<UserResponse>)),
    security(("bearer" = []), ("api_key" = [])),
)]
async fn list_users(
    state: web::Data<ApiState>,
    Authenticated(who): Authenticated,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = query.into_inner().try_into_domain(|raw| Uuid::parse_str(raw).ok().map(UserId::from_uuid))?;
    let users = state.auth.list_users(&who, &page).await?;
    Ok(HttpResponse::Ok().json(PageResponse::from_page(users, UserResponse::from)))
}

#[utoipa::path(
    patch, path = "/api/v1/admin/users/{id}", operation_id = "admin_update_user", tag = "admin",
    params(("id" = uuid::Uuid, Path, description = "The user's `id`")),
    request_body = UpdateUserRequest,
    responses((status = 200, description = "The user; locking ends all its sessions (admin only)", body = UserResponse)),
    security(("bearer" = []), ("api_key" = [])),
)]
async fn update_user(
    state: web::Data<ApiState>,
    Authenticated(who): Authenticated,
    id: web::Path<String>,
    body: web::Json<UpdateUserRequest>,
) -> Result<HttpResponse, ApiError> {
    let id = Uuid::parse_str(&id).map(UserId::from_uuid).map_err(|_| ApiError::not_found())?;
    let changes = body.into_inner().try_into_domain()?;
    let user = state.auth.update_user(&who, id, &changes).await?;
    Ok(HttpResponse::Ok().json(UserResponse::from(user)))
}

#[utoipa::path(
    get, path = "/api/v1/admin/orders", operation_id = "admin_list_orders", tag = "admin",
    params(OrdersQuery),
    responses((status = 200, description = "Every account's orders, newest first (support and admin)", body = PageResponse<OrderResponse>)),
    security(("bearer" = []), ("api_key" = [])),
)]
async fn list_orders(
    state: web::Data<ApiState>,
    Authenticated(who): Authenticated,
    query: web::Query<OrdersQuery>,
) -> Result<HttpResponse, ApiError> {
    let (filter, page) = query.into_inner().try_into_domain()?;
    let page = state.orders.list_all(&who, &filter, &page).await?;
    Ok(HttpResponse::Ok().json(PageResponse::from_page(page, OrderResponse::from)))
}

#[utoipa::path(
    post, path = "/api/v1/admin/symbols/{symbol}/halt", operation_id = "admin_halt_symbol", tag = "admin",
    params(("symbol" = String, Path, description = "A listed symbol")),
    responses((status = 204, description = "Trading halted: new orders get 422 `symbol_halted` (admin only)")),
    security(("bearer" = []), ("api_key" = [])),
)]
async fn halt_symbol(
    state: web::Data<ApiState>,
    Authenticated(who): Authenticated,
    symbol: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    state.orders.set_halted(&who, &symbol, true).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(
    post, path = "/api/v1/admin/symbols/{symbol}/resume", operation_id = "admin_resume_symbol", tag = "admin",
    params(("symbol" = String, Path, description = "A listed symbol")),
    responses((status = 204, description = "Trading resumed (admin only)")),
    security(("bearer" = []), ("api_key" = [])),
)]
async fn resume_symbol(
    state: web::Data<ApiState>,
    Authenticated(who): Authenticated,
    symbol: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    state.orders.set_halted(&who, &symbol, false).await?;
    Ok(HttpResponse::NoContent().finish())
}
