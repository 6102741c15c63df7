//! Outgoing webhooks: registration, listing, the deliveries log, and the body every
//! delivery POSTs (written here so the order in it is exactly the REST API's order).

use super::FieldErrors;
use super::orders::OrderResponse;
use crate::errors::ApiError;
use brokerage_domain::InfraError;
use brokerage_domain::orders::TradeEvent;
use brokerage_domain::webhooks::{CreatedWebhook, Delivery, EventKinds, MAX_URL_LEN, WebhookEndpoint, WebhookPayloads};
use chrono::{DateTime, Utc};
use garde::Validate;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// `POST /webhooks`.
#[derive(Debug, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhookRequest {
    /// `https://…` (no credentials, no fragment). Loopback, private and link-local addresses
    /// are refused.
    #[garde(length(min = 1, max = MAX_URL_LEN))]
    #[schema(min_length = 1, max_length = 2048, example = "https://example.com/hooks/brokerage")]
    pub url: String,
    /// The trade-update kinds to deliver.
    #[garde(length(min = 1, max = 7))]
    #[schema(value_type = Vec<crate::openapi::schemas::TradeEventKind>, min_items = 1, max_items = 7)]
    pub events: Vec<String>,
}

impl CreateWebhookRequest {
    /// The raw URL (checked by the service, which knows whether local URLs are allowed) and
    /// the kinds.
    pub fn try_into_domain(self) -> Result<(String, EventKinds), ApiError> {
        let mut errors = FieldErrors::validate(&self);
        let kinds = errors.check(
            "events",
            EventKinds::parse(self.events.iter().map(String::as_str))
                .ok_or("each event must be new, fill, partial_fill, canceled, expired, replaced or rejected"),
        );
        errors.finish(kinds.map(|k| (self.url, k)))
    }
}

/// An endpoint as listed: never its secret.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WebhookResponse {
    pub id: Uuid,
    pub url: String,
    #[schema(value_type = Vec<crate::openapi::schemas::TradeEventKind>)]
    pub events: Vec<&'static str>,
    pub created_at: DateTime<Utc>,
}

impl From<WebhookEndpoint> for WebhookResponse {
    fn from(e: WebhookEndpoint) -> Self {
        Self { id: e.id.into(), url: e.url.as_str().to_owned(), events: e.events.names(), created_at: e.created_at }
    }
}

/// A new endpoint with its signing secret, shown this once. No `Debug`: it holds the secret.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(description = "A new endpoint with its signing `secret`, shown this once")]
pub struct CreatedWebhookResponse {
    #[serde(flatten)]
    pub endpoint: WebhookResponse,
    /// Verifies `X-Signature` on deliveries: `t=<unix>,v1=<hex HMAC-SHA256(secret, t + "." + body)>`.
    pub secret: String,
}

impl From<CreatedWebhook> for CreatedWebhookResponse {
    fn from(c: CreatedWebhook) -> Self {
        Self { endpoint: c.endpoint.into(), secret: c.secret }
    }
}

/// One event for one endpoint, and how its delivery went.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DeliveryResponse {
    pub id: Uuid,
    /// The account's trade-update cursor of the event (`X-Event-Seq`).
    pub event_seq: u64,
    #[schema(value_type = crate::openapi::schemas::TradeEventKind)]
    pub event: &'static str,
    /// Attempts made so far.
    pub attempt: u32,
    #[schema(value_type = crate::openapi::schemas::DeliveryState)]
    pub status: &'static str,
    /// The HTTP status of the last answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_status: Option<u16>,
    /// Why the last attempt failed (`HTTP 500`, `timeout`, `connection failed`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// When a pending delivery is tried next.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivered_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl From<Delivery> for DeliveryResponse {
    fn from(d: Delivery) -> Self {
        Self {
            id: d.id.into(),
            event_seq: d.event_seq,
            event: d.event.as_str(),
            attempt: d.attempt,
            status: d.status.as_str(),
            response_status: d.response_status,
            error: d.error,
            next_attempt_at: d.next_attempt_at,
            delivered_at: d.delivered_at,
            created_at: d.created_at,
        }
    }
}

/// The body of a delivery: `{"event", "seq", "order", "fill"?, "at"}`.
#[derive(Debug, Serialize)]
pub struct WebhookEventBody {
    pub event: &'static str,
    pub seq: u64,
    pub order: OrderResponse,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fill: Option<FillBody>,
    pub at: DateTime<Utc>,
}

/// The execution an event reports.
#[derive(Debug, Serialize)]
pub struct FillBody {
    pub qty: String,
    pub price: String,
}

impl From<&TradeEvent> for WebhookEventBody {
    fn from(e: &TradeEvent) -> Self {
        Self {
            event: e.kind.as_str(),
            seq: e.seq,
            order: OrderResponse::from(e.order.clone()),
            fill: e.fill.map(|f| FillBody { qty: f.qty.to_string(), price: f.price.to_string() }),
            at: e.at,
        }
    }
}

/// The [`WebhookPayloads`] port: JSON bodies of deliveries.
#[derive(Debug, Default, Clone, Copy)]
pub struct JsonWebhookPayloads;

impl WebhookPayloads for JsonWebhookPayloads {
    fn body(&self, event: &TradeEvent) -> Result<String, InfraError> {
        serde_json::to_string(&WebhookEventBody::from(event)).map_err(|e| InfraError::Unknown(e.into()))
    }
}
