//! `POST /api-keys`, `GET /api-keys`, `DELETE /api-keys/{id}`.

use crate::dto::{ApiKeyResponse, CreateApiKeyRequest, CreatedApiKeyResponse, PageQuery, PageResponse};
use crate::errors::ApiError;
use crate::extract::Authenticated;
use crate::state::ApiState;
use actix_web::{HttpResponse, web};
use brokerage_domain::ApiKeyId;
use uuid::Uuid;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/api-keys").route(web::post().to(create)).route(web::get().to(list)))
        .service(web::resource("/api-keys/{id}").route(web::delete().to(revoke)));
}

#[utoipa::path(
    post, path = "/api/v1/api-keys", operation_id = "create_api_key", tag = "api-keys",
    request_body = CreateApiKeyRequest,
    responses((status = 201, description = "The key with its `secret`, shown this once", body = CreatedApiKeyResponse)),
    security(("bearer" = []), ("api_key" = [])),
)]
/// Creates a key; the secret is in this response and never again.
async fn create(
    state: web::Data<ApiState>,
    Authenticated(who): Authenticated,
    body: web::Json<CreateApiKeyRequest>,
) -> Result<HttpResponse, ApiError> {
    let (name, scopes) = body.into_inner().try_into_domain()?;
    let created = state.api_keys.create(&who, name, scopes).await?;
    Ok(HttpResponse::Created().json(CreatedApiKeyResponse::from(created)))
}

#[utoipa::path(
    get, path = "/api/v1/api-keys", operation_id = "list_api_keys", tag = "api-keys",
    params(PageQuery),
    responses((status = 200, description = "The caller's keys (never their secrets)", body = PageResponse<ApiKeyResponse>)),
    security(("bearer" = []), ("api_key" = [])),
)]
async fn list(
    state: web::Data<ApiState>,
    Authenticated(who): Authenticated,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = query.into_inner().try_into_domain(|raw| Uuid::parse_str(raw).ok().map(ApiKeyId::from_uuid))?;
    let keys = state.api_keys.list(&who, &page).await?;
    Ok(HttpResponse::Ok().json(PageResponse::from_page(keys, ApiKeyResponse::from)))
}

#[utoipa::path(
    delete, path = "/api/v1/api-keys/{id}", operation_id = "revoke_api_key", tag = "api-keys",
    params(("id" = uuid::Uuid, Path, description = "The key's `id`")),
    responses((status = 204, description = "Revoked: requests signed with it are refused from now on")),
    security(("bearer" = []), ("api_key" = [])),
)]
async fn revoke(
    state: web::Data<ApiState>,
    Authenticated(who): Authenticated,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = Uuid::parse_str(&id).map(ApiKeyId::from_uuid).map_err(|_| ApiError::not_found())?;
    state.api_keys.revoke(&who, id).await?;
    Ok(HttpResponse::NoContent().finish())
}
