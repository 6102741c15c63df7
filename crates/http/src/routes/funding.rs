//! `POST /webhooks/funding`: the funding provider's deposit notices (see [`crate::funding`]).

use crate::dto::{FundingWebhookRequest, FundingWebhookResponse};
use crate::errors::ApiError;
use crate::funding::SIGNATURE_HEADER;
use crate::state::ApiState;
use actix_web::{HttpRequest, HttpResponse, web};
use brokerage_domain::accounts::FundsError;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/webhooks/funding").route(web::post().to(funding)));
}

#[utoipa::path(
    post, path = "/api/v1/webhooks/funding", operation_id = "funding_webhook", tag = "webhooks",
    request_body = FundingWebhookRequest,
    params(("X-Signature" = String, Header, description = "`t=<unix seconds>,v1=<hex HMAC-SHA256(WEBHOOK_SECRET, t + \".\" + raw body)>`; \
        the timestamp must be within 300 s of the server's clock")),
    responses(
        (status = 200, description = "Verified. `credited`: `true` when this delivery credited the deposit, `false` when \
            the `event_id` was credited before (a retry: nothing is credited twice)", body = FundingWebhookResponse),
        (status = 401, description = "`unauthenticated`: `X-Signature` is missing, malformed, stale or wrong (nothing is read \
            or credited)", body = crate::openapi::ErrorEnvelope),
        (status = 422, description = "`unknown_account`: no such account; `account_not_active`", body = crate::openapi::ErrorEnvelope),
        (status = 503, description = "`unavailable`: no `WEBHOOK_SECRET` is configured, or a dependency is down", body = crate::openapi::ErrorEnvelope),
    ),
    security(("funding_signature" = [])),
)]
async fn funding(state: web::Data<ApiState>, req: HttpRequest, body: web::Bytes) -> Result<HttpResponse, ApiError> {
    let hook = state.funding.as_ref().ok_or_else(ApiError::webhook_not_configured)?;
    let signature = req.headers().get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok());
    // The signature covers the raw bytes: check it before reading anything from them.
    hook.verify(signature, &body).map_err(ApiError::bad_webhook_signature)?;
    let notice: FundingWebhookRequest =
        serde_json::from_slice(&body).map_err(|e| ApiError::validation(vec![crate::extract::json_error_detail(&e)]))?;
    let event = notice.try_into_domain()?;
    let credited = state.accounts.credit_funding(&event).await.map_err(|e| match e {
        FundsError::NotFound => ApiError::unknown_account(),
        e => ApiError::from(e),
    })?;
    Ok(HttpResponse::Ok().json(FundingWebhookResponse { credited }))
}
