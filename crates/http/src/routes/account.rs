//! `GET /account`, `POST /account/deposits`, `POST /account/withdrawals`,
//! `GET /account/activities`.

use crate::dto::{AccountResponse, ActivitiesQuery, ActivityResponse, AmountRequest, PageResponse};
use crate::errors::ApiError;
use crate::extract::Authenticated;
use crate::idempotency::request_key;
use crate::state::ApiState;
use actix_web::{HttpRequest, HttpResponse, web};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/account").route(web::get().to(account)))
        .service(web::resource("/account/deposits").route(web::post().to(deposit)))
        .service(web::resource("/account/withdrawals").route(web::post().to(withdraw)))
        .service(web::resource("/account/activities").route(web::get().to(activities)));
}

#[utoipa::path(
    get, path = "/api/v1/account", operation_id = "get_account", tag = "account",
    responses((status = 200, description = "The caller's account", body = AccountResponse)),
    security(("bearer" = []), ("api_key" = [])),
)]
async fn account(state: web::Data<ApiState>, Authenticated(who): Authenticated) -> Result<HttpResponse, ApiError> {
    let view = state.accounts.account(&who).await?;
    Ok(HttpResponse::Ok().json(AccountResponse::from(view)))
}

#[utoipa::path(
    post, path = "/api/v1/account/deposits", operation_id = "deposit", tag = "account",
    request_body = AmountRequest,
    responses(
        (status = 201, description = "The deposit activity", body = ActivityResponse),
        (status = 422, description = "`account_not_active`", body = crate::openapi::ErrorEnvelope),
    ),
    security(("bearer" = []), ("api_key" = [])),
)]
async fn deposit(
    state: web::Data<ApiState>,
    Authenticated(who): Authenticated,
    req: HttpRequest,
    body: web::Json<AmountRequest>,
) -> Result<HttpResponse, ApiError> {
    let amount = body.into_inner().try_into_domain()?;
    let activity = state.accounts.deposit_keyed(&who, amount, request_key(&req)).await?;
    Ok(HttpResponse::Created().json(ActivityResponse::from(activity)))
}

#[utoipa::path(
    post, path = "/api/v1/account/withdrawals", operation_id = "withdraw", tag = "account",
    request_body = AmountRequest,
    responses(
        (status = 201, description = "The withdrawal activity (negative amount)", body = ActivityResponse),
        (status = 422, description = "`insufficient_funds`: more than the cash not held for open orders; `account_not_active`", body = crate::openapi::ErrorEnvelope),
    ),
    security(("bearer" = []), ("api_key" = [])),
)]
async fn withdraw(
    state: web::Data<ApiState>,
    Authenticated(who): Authenticated,
    req: HttpRequest,
    body: web::Json<AmountRequest>,
) -> Result<HttpResponse, ApiError> {
    let amount = body.into_inner().try_into_domain()?;
    let activity = state.accounts.withdraw_keyed(&who, amount, request_key(&req)).await?;
    Ok(HttpResponse::Created().json(ActivityResponse::from(activity)))
}

#[utoipa::path(
    get, path = "/api/v1/account/activities", operation_id = "list_activities", tag = "account",
    params(ActivitiesQuery),
    responses((status = 200, description = "The ledger, newest first", body = PageResponse<ActivityResponse>)),
    security(("bearer" = []), ("api_key" = [])),
)]
async fn activities(
    state: web::Data<ApiState>,
    Authenticated(who): Authenticated,
    query: web::Query<ActivitiesQuery>,
) -> Result<HttpResponse, ApiError> {
    let (filter, page) = query.into_inner().try_into_domain()?;
    let page = state.accounts.activities(&who, &filter, &page).await?;
    Ok(HttpResponse::Ok().json(PageResponse::from_page(page, ActivityResponse::from)))
}
