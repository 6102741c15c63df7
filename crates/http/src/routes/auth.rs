//! `POST /auth/register`, `POST /auth/login`, `GET /me`.

use crate::dto::{LoginRequest, RegisterRequest, TokensResponse, UserResponse};
use crate::errors::ApiError;
use crate::extract::Authenticated;
use crate::state::ApiState;
use actix_web::{HttpResponse, web};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/auth/register").route(web::post().to(register)))
        .service(web::resource("/auth/login").route(web::post().to(login)))
        .service(web::resource("/me").route(web::get().to(me)));
}

async fn register(state: web::Data<ApiState>, body: web::Json<RegisterRequest>) -> Result<HttpResponse, ApiError> {
    let (email, password) = body.into_inner().try_into_domain()?;
    let user = state.auth.register(email, password).await?;
    Ok(HttpResponse::Created().json(UserResponse::from(user)))
}

async fn login(state: web::Data<ApiState>, body: web::Json<LoginRequest>) -> Result<HttpResponse, ApiError> {
    let (email, password) = body.into_inner().try_into_domain()?;
    let token = state.auth.login(&email, &password).await?;
    Ok(HttpResponse::Ok().json(TokensResponse::from(token)))
}

async fn me(state: web::Data<ApiState>, Authenticated(who): Authenticated) -> Result<HttpResponse, ApiError> {
    // A token that outlived its user no longer authenticates anyone.
    let user = state.auth.me(&who).await?.ok_or_else(ApiError::unauthenticated)?;
    Ok(HttpResponse::Ok().json(UserResponse::from(user)))
}
