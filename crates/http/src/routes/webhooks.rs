//! Outgoing webhooks: `POST /webhooks`, `GET /webhooks`, `DELETE /webhooks/{id}`,
//! `GET /webhooks/{id}/deliveries`.
//!
//! `POST /webhooks/funding` (the funding provider's incoming webhook) lives elsewhere: the
//! `/webhooks/{id}` resource steps aside for that path (a guard), whichever is mounted first.

use crate::dto::PageResponse;
use crate::dto::webhooks::{CreateWebhookRequest, CreatedWebhookResponse, DeliveryResponse, WebhookResponse};
use crate::errors::ApiError;
use crate::extract::Authenticated;
use crate::state::ApiState;
use actix_web::{HttpResponse, guard, web};
use brokerage_domain::webhooks::{DeliveryId, WebhookError, WebhookId};
use uuid::Uuid;

/// Path segments under `/webhooks/` that are not endpoint ids.
const RESERVED: &[&str] = &["funding"];

pub fn configure(cfg: &mut web::ServiceConfig) {
    let not_reserved = guard::fn_guard(|ctx| {
        let path = ctx.head().uri.path();
        !RESERVED.iter().any(|r| path.ends_with(&format!("/webhooks/{r}")))
    });
    cfg.service(web::resource("/webhooks").route(web::post().to(create)).route(web::get().to(list)))
        .service(web::resource("/webhooks/{id}").guard(not_reserved).route(web::delete().to(delete)))
        .service(web::resource("/webhooks/{id}/deliveries").route(web::get().to(deliveries)));
}

impl From<WebhookError> for ApiError {
    fn from(e: WebhookError) -> Self {
        match e {
            WebhookError::Forbidden(_) => Self::forbidden(),
            WebhookError::NotFound => Self::not_found(),
            WebhookError::InvalidUrl(why) => Self::invalid_field("url", why.to_string()),
            WebhookError::TooMany => Self::invalid_field(
                "url",
                format!("at most {} webhooks per account", brokerage_domain::webhooks::MAX_ENDPOINTS_PER_ACCOUNT),
            ),
            WebhookError::Infra(e) => e.into(),
        }
    }
}

fn webhook_id(raw: &str) -> Result<WebhookId, ApiError> {
    Uuid::parse_str(raw).map(WebhookId::from_uuid).map_err(|_| ApiError::not_found())
}

#[utoipa::path(
    post, path = "/api/v1/webhooks", operation_id = "create_webhook", tag = "webhooks",
    request_body = CreateWebhookRequest,
    responses((
        status = 201,
        description = "The endpoint with its signing `secret`, shown this once. Each delivery POSTs \
            `{\"event\", \"seq\", \"order\", \"fill\"?, \"at\"}` with `X-Signature: t=<unix>,v1=<hex \
            HMAC-SHA256(secret, t + \".\" + body)>`, `X-Webhook-Id` and `X-Event-Seq`; a non-2xx answer \
            or no answer within 5 s is retried with exponential backoff (10 attempts)",
        body = CreatedWebhookResponse
    )),
    security(("bearer" = []), ("api_key" = [])),
)]
/// Registers an endpoint for the caller's trade updates (only those after this moment).
async fn create(
    state: web::Data<ApiState>,
    Authenticated(who): Authenticated,
    body: web::Json<CreateWebhookRequest>,
) -> Result<HttpResponse, ApiError> {
    let (url, events) = body.into_inner().try_into_domain()?;
    let created = state.webhooks.create(&who, &url, events).await?;
    Ok(HttpResponse::Created().json(CreatedWebhookResponse::from(created)))
}

#[utoipa::path(
    get, path = "/api/v1/webhooks", operation_id = "list_webhooks", tag = "webhooks",
    params(crate::dto::PageQuery),
    responses((status = 200, description = "The caller's endpoints (never their secrets)", body = PageResponse<WebhookResponse>)),
    security(("bearer" = []), ("api_key" = [])),
)]
async fn list(
    state: web::Data<ApiState>,
    Authenticated(who): Authenticated,
    query: web::Query<crate::dto::PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = query.into_inner().try_into_domain(|raw| Uuid::parse_str(raw).ok().map(WebhookId::from_uuid))?;
    let endpoints = state.webhooks.list(&who, &page).await?;
    Ok(HttpResponse::Ok().json(PageResponse::from_page(endpoints, WebhookResponse::from)))
}

#[utoipa::path(
    delete, path = "/api/v1/webhooks/{id}", operation_id = "delete_webhook", tag = "webhooks",
    params(("id" = uuid::Uuid, Path, description = "The endpoint's `id`")),
    responses((status = 204, description = "Deleted: nothing more is delivered to it")),
    security(("bearer" = []), ("api_key" = [])),
)]
async fn delete(
    state: web::Data<ApiState>,
    Authenticated(who): Authenticated,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    state.webhooks.delete(&who, webhook_id(&id)?).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(
    get, path = "/api/v1/webhooks/{id}/deliveries", operation_id = "list_webhook_deliveries", tag = "webhooks",
    params(("id" = uuid::Uuid, Path, description = "The endpoint's `id`"), crate::dto::PageQuery),
    responses((status = 200, description = "The endpoint's deliveries, newest first", body = PageResponse<DeliveryResponse>)),
    security(("bearer" = []), ("api_key" = [])),
)]
async fn deliveries(
    state: web::Data<ApiState>,
    Authenticated(who): Authenticated,
    id: web::Path<String>,
    query: web::Query<crate::dto::PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = webhook_id(&id)?;
    let page = query.into_inner().try_into_domain(|raw| Uuid::parse_str(raw).ok().map(DeliveryId::from_uuid))?;
    let deliveries = state.webhooks.deliveries(&who, id, &page).await?;
    Ok(HttpResponse::Ok().json(PageResponse::from_page(deliveries, DeliveryResponse::from)))
}

#[cfg(test)]
mod tests {
    use crate::api_tests::{GOOD_TOKEN, Mocks};
    use crate::{HttpConfig, app};
    use actix_web::http::{StatusCode, header};
    use actix_web::test::{self, TestRequest};
    use brokerage_domain::crypto::{MockSecretCipher, MockTokenDigests};
    use brokerage_domain::orders::MockEventStore;
    use brokerage_domain::system::{SystemClock, UuidV7Generator};
    use brokerage_domain::webhooks::{MockWebhookStore, WebhookPorts, WebhookService};
    use serde_json::{Value, json};
    use std::sync::Arc;

    fn service(store: MockWebhookStore) -> WebhookService {
        let mut events = MockEventStore::new();
        events.expect_last_event_seq().returning(|_| Ok(41));
        let mut cipher = MockSecretCipher::new();
        cipher.expect_seal().returning(|s| Ok(format!("sealed:{}", String::from_utf8_lossy(s))));
        let mut digests = MockTokenDigests::new();
        digests.expect_random_token().returning(|_| "r".repeat(43));
        WebhookService::new(
            WebhookPorts {
                store: Arc::new(store),
                events: Arc::new(events),
                cipher: Arc::new(cipher),
                digests: Arc::new(digests),
                clock: Arc::new(SystemClock),
                ids: Arc::new(UuidV7Generator),
            },
            false,
        )
    }

    async fn call(store: MockWebhookStore, req: TestRequest) -> (StatusCode, Value) {
        let mut state = Mocks::new().state();
        state.webhooks = service(store);
        let svc = test::init_service(app(state, &HttpConfig::default())).await;
        let req = req.insert_header((header::AUTHORIZATION, format!("Bearer {GOOD_TOKEN}"))).to_request();
        let res = test::call_service(&svc, req).await;
        let status = res.status();
        let body = test::read_body(res).await;
        (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
    }

    #[actix_web::test]
    async fn registering_shows_the_secret_once_and_stores_it_sealed_with_the_accounts_cursor() {
        let mut store = MockWebhookStore::new();
        store.expect_list_endpoints().returning(|_, page| Ok(page.into_page(Vec::new(), |e| e.id)));
        store
            .expect_create_endpoint()
            .withf(|e, sealed, cursor| {
                e.url.as_str() == "https://example.com/hook" && sealed.starts_with("sealed:whsec_") && *cursor == 41
            })
            .times(1)
            .returning(|_, _, _| Ok(()));
        let body = json!({"url": "https://example.com/hook", "events": ["fill", "new"]});
        let (status, body) = call(store, TestRequest::post().uri("/api/v1/webhooks").set_json(body)).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(body["events"], json!(["new", "fill"]));
        assert_eq!(body["secret"], format!("whsec_{}", "r".repeat(43)));
    }

    #[actix_web::test]
    async fn bad_urls_and_kinds_are_validation_errors() {
        for (url, events, field) in [
            ("http://example.com/hook", json!(["new"]), "url"),
            ("https://127.0.0.1/hook", json!(["new"]), "url"),
            ("https://example.com/hook", json!(["sold"]), "events"),
        ] {
            let mut store = MockWebhookStore::new();
            store.expect_list_endpoints().returning(|_, page| Ok(page.into_page(Vec::new(), |e| e.id)));
            let req = TestRequest::post().uri("/api/v1/webhooks").set_json(json!({"url": url, "events": events}));
            let (status, body) = call(store, req).await;
            assert_eq!((status, body["details"][0]["field"].as_str()), (StatusCode::BAD_REQUEST, Some(field)), "{url}");
        }
    }

    #[actix_web::test]
    async fn another_accounts_endpoint_is_not_found() {
        let mut store = MockWebhookStore::new();
        store.expect_get_endpoint().returning(|_, _| Ok(None));
        store.expect_delete_endpoint().returning(|_, _, _| Ok(false));
        let id = uuid::Uuid::now_v7();
        let (status, body) = call(store, TestRequest::get().uri(&format!("/api/v1/webhooks/{id}/deliveries"))).await;
        assert_eq!((status, body["error"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")));
        let (status, _) = call(MockWebhookStore::new(), TestRequest::delete().uri("/api/v1/webhooks/not-a-uuid")).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }

    #[actix_web::test]
    async fn the_endpoint_routes_leave_the_funding_webhook_path_alone() {
        // Whoever answers `POST /webhooks/funding`, it is never the `/webhooks/{id}` resource
        // (which would say 405: it has no POST).
        let (status, _) =
            call(MockWebhookStore::new(), TestRequest::post().uri("/api/v1/webhooks/funding").set_json(json!({})))
                .await;
        assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED);
    }
}
