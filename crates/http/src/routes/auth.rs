//! `POST /auth/register`, `/auth/login`, `/auth/refresh`, `/auth/logout`, `/auth/password`,
//! `GET /me`.

use crate::dto::{
    ChangePasswordRequest, LoginRequest, RefreshRequest, RegisterRequest, TokensResponse, TotpCodeRequest,
    TotpSetupResponse, UserResponse,
};
use crate::errors::ApiError;
use crate::extract::Authenticated;
use crate::state::ApiState;
use actix_web::{HttpResponse, web};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/auth/register").route(web::post().to(register)))
        .service(web::resource("/auth/login").route(web::post().to(login)))
        .service(web::resource("/auth/refresh").route(web::post().to(refresh)))
        .service(web::resource("/auth/logout").route(web::post().to(logout)))
        .service(web::resource("/auth/password").route(web::post().to(change_password)))
        .service(web::resource("/auth/2fa/setup").route(web::post().to(setup_totp)))
        .service(web::resource("/auth/2fa/enable").route(web::post().to(enable_totp)))
        .service(web::resource("/auth/2fa/disable").route(web::post().to(disable_totp)))
        .service(web::resource("/me").route(web::get().to(me)));
}

#[utoipa::path(
    post, path = "/api/v1/auth/register", operation_id = "register", tag = "auth",
    request_body = RegisterRequest,
    responses(
        (status = 201, description = "The new user (role `customer`)", body = UserResponse),
        (status = 409, description = "`conflict`: the e-mail address is already registered", body = crate::openapi::ErrorEnvelope),
    ),
)]
async fn register(state: web::Data<ApiState>, body: web::Json<RegisterRequest>) -> Result<HttpResponse, ApiError> {
    let (email, password) = body.into_inner().try_into_domain()?;
    let user = state.auth.register(email, password).await?;
    Ok(HttpResponse::Created().json(UserResponse::from(user)))
}

#[utoipa::path(
    post, path = "/api/v1/auth/login", operation_id = "login", tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "A new session's tokens", body = TokensResponse),
        (status = 401, description = "`invalid_credentials` (also for an unknown e-mail or a locked user); `totp_required` when 2FA is on and `totp_code` is missing or wrong", body = crate::openapi::ErrorEnvelope),
    ),
)]
async fn login(state: web::Data<ApiState>, body: web::Json<LoginRequest>) -> Result<HttpResponse, ApiError> {
    let (email, password, totp_code) = body.into_inner().try_into_domain()?;
    let tokens = state.auth.login(&email, &password, totp_code.as_deref()).await?;
    Ok(HttpResponse::Ok().json(TokensResponse::from(tokens)))
}

#[utoipa::path(
    post, path = "/api/v1/auth/refresh", operation_id = "refresh", tag = "auth",
    request_body = RefreshRequest,
    responses(
        (status = 200, description = "New tokens; the refresh token sent is now spent", body = TokensResponse),
        (status = 401, description = "`unauthenticated`: unknown, expired or already spent refresh token (a spent one also ends its session)", body = crate::openapi::ErrorEnvelope),
    ),
)]
/// Spends the refresh token for a new pair; a spent one revokes its whole session.
async fn refresh(state: web::Data<ApiState>, body: web::Json<RefreshRequest>) -> Result<HttpResponse, ApiError> {
    let raw = body.into_inner().try_into_domain()?;
    let tokens = state.auth.refresh(&raw).await?;
    Ok(HttpResponse::Ok().json(TokensResponse::from(tokens)))
}

#[utoipa::path(
    post, path = "/api/v1/auth/logout", operation_id = "logout", tag = "auth",
    responses((status = 204, description = "The session has ended")),
    security(("bearer" = []), ("api_key" = [])),
)]
/// Ends the caller's session: its access and refresh tokens stop working at once.
async fn logout(state: web::Data<ApiState>, Authenticated(who): Authenticated) -> Result<HttpResponse, ApiError> {
    state.auth.logout(&who).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(
    post, path = "/api/v1/auth/password", operation_id = "change_password", tag = "auth",
    request_body = ChangePasswordRequest,
    responses(
        (status = 204, description = "Changed; every session of the user has ended"),
        (status = 401, description = "`invalid_credentials`: the current password is wrong; `unauthenticated`, `token_expired`", body = crate::openapi::ErrorEnvelope),
    ),
    security(("bearer" = []), ("api_key" = [])),
)]
/// Changes the caller's password; every session of the user ends (log in again).
async fn change_password(
    state: web::Data<ApiState>,
    Authenticated(who): Authenticated,
    body: web::Json<ChangePasswordRequest>,
) -> Result<HttpResponse, ApiError> {
    let (current, new) = body.into_inner().try_into_domain()?;
    state.auth.change_password(&who, &current, new).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(
    get, path = "/api/v1/me", operation_id = "me", tag = "auth",
    responses((status = 200, description = "The caller", body = UserResponse)),
    security(("bearer" = []), ("api_key" = [])),
)]
async fn me(state: web::Data<ApiState>, Authenticated(who): Authenticated) -> Result<HttpResponse, ApiError> {
    // A token that outlived its user no longer authenticates anyone.
    let user = state.auth.me(&who).await?.ok_or_else(ApiError::unauthenticated)?;
    Ok(HttpResponse::Ok().json(UserResponse::from(user)))
}

#[utoipa::path(
    post, path = "/api/v1/auth/2fa/setup", operation_id = "setup_totp", tag = "auth",
    responses(
        (status = 200, description = "A new TOTP secret, shown once; 2FA is on after `/auth/2fa/enable`", body = TotpSetupResponse),
        (status = 409, description = "`conflict`: two-factor authentication is already enabled", body = crate::openapi::ErrorEnvelope),
    ),
    security(("bearer" = []), ("api_key" = [])),
)]
/// Starts 2FA: a new secret and its `otpauth://` URI, shown once; enabled by a first code.
async fn setup_totp(state: web::Data<ApiState>, Authenticated(who): Authenticated) -> Result<HttpResponse, ApiError> {
    let setup = state.auth.setup_totp(&who).await?;
    Ok(HttpResponse::Ok().json(TotpSetupResponse::from(setup)))
}

#[utoipa::path(
    post, path = "/api/v1/auth/2fa/enable", operation_id = "enable_totp", tag = "auth",
    request_body = TotpCodeRequest,
    responses(
        (status = 204, description = "Two-factor authentication is on"),
        (status = 409, description = "`conflict`: two-factor authentication is already enabled", body = crate::openapi::ErrorEnvelope),
        (status = 422, description = "`invalid_totp_code`: the code is wrong, expired or already used", body = crate::openapi::ErrorEnvelope),
    ),
    security(("bearer" = []), ("api_key" = [])),
)]
async fn enable_totp(
    state: web::Data<ApiState>,
    Authenticated(who): Authenticated,
    body: web::Json<TotpCodeRequest>,
) -> Result<HttpResponse, ApiError> {
    state.auth.enable_totp(&who, &body.into_inner().try_into_domain()?).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(
    post, path = "/api/v1/auth/2fa/disable", operation_id = "disable_totp", tag = "auth",
    request_body = TotpCodeRequest,
    responses(
        (status = 204, description = "Two-factor authentication is off"),
        (status = 422, description = "`invalid_totp_code`: the code is wrong, expired or already used", body = crate::openapi::ErrorEnvelope),
    ),
    security(("bearer" = []), ("api_key" = [])),
)]
async fn disable_totp(
    state: web::Data<ApiState>,
    Authenticated(who): Authenticated,
    body: web::Json<TotpCodeRequest>,
) -> Result<HttpResponse, ApiError> {
    state.auth.disable_totp(&who, &body.into_inner().try_into_domain()?).await?;
    Ok(HttpResponse::NoContent().finish())
}
