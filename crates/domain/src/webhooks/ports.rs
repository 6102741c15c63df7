use super::models::{
    AttemptOutcome, ClaimedDelivery, Delivery, DeliveryId, NewDelivery, OutgoingWebhook, WebhookEndpoint, WebhookId,
};
use crate::error::InfraError;
use crate::ids::AccountId;
use crate::orders::TradeEvent;
use crate::paging::{Page, PageRequest};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

/// Endpoints, their outbox cursors and their deliveries, shared by every instance.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait WebhookStore: Send + Sync {
    /// Stores an endpoint with its sealed secret; its cursor starts at `cursor` (the
    /// account's last event seq when it was registered: only later events are delivered).
    async fn create_endpoint(
        &self,
        endpoint: &WebhookEndpoint,
        sealed_secret: &str,
        cursor: u64,
    ) -> Result<(), InfraError>;

    /// The account's live endpoints, oldest first.
    async fn list_endpoints(
        &self,
        account: AccountId,
        page: &PageRequest<WebhookId>,
    ) -> Result<Page<WebhookEndpoint, WebhookId>, InfraError>;

    /// The account's live endpoint; `None` when it does not exist, was deleted or belongs to
    /// another account.
    async fn get_endpoint(&self, account: AccountId, id: WebhookId) -> Result<Option<WebhookEndpoint>, InfraError>;

    /// Deletes the account's endpoint (its pending deliveries are never sent); `false` when
    /// it does not exist, was deleted already or belongs to another account.
    async fn delete_endpoint(&self, account: AccountId, id: WebhookId, at: DateTime<Utc>) -> Result<bool, InfraError>;

    /// Every live endpoint with its cursor (the seq of the last event turned into
    /// deliveries), at most `limit`, those whose cursor moved least recently first.
    async fn active_endpoints(&self, limit: usize) -> Result<Vec<(WebhookEndpoint, u64)>, InfraError>;

    /// In ONE atomic step: moves the endpoint's cursor from `from` to `to` and stores
    /// `deliveries` (due now). Returns `false`, storing nothing, when the cursor is no longer
    /// `from` (another worker advanced it) or the endpoint was deleted. A delivery for an
    /// `(endpoint, event_seq)` that already exists is skipped.
    async fn enqueue(
        &self,
        endpoint: WebhookId,
        from: u64,
        to: u64,
        deliveries: &[NewDelivery],
    ) -> Result<bool, InfraError>;

    /// Claims up to `limit` pending deliveries due at `now` of live endpoints (at most
    /// `per_endpoint` of each, oldest event first) for this worker: each is moved to
    /// `lease_until` in the same step, so no other worker claims it until then (Postgres:
    /// `FOR UPDATE SKIP LOCKED`). A worker that dies mid-send leaves it due again after the
    /// lease.
    async fn claim_due(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: usize,
        per_endpoint: usize,
    ) -> Result<Vec<ClaimedDelivery>, InfraError>;

    /// Records the result of an attempt.
    async fn record_attempt(&self, id: DeliveryId, outcome: &AttemptOutcome) -> Result<(), InfraError>;

    /// The deliveries of the account's endpoint, newest event first (the caller checked
    /// that the endpoint is the account's).
    async fn list_deliveries(
        &self,
        account: AccountId,
        endpoint: WebhookId,
        page: &PageRequest<DeliveryId>,
    ) -> Result<Page<Delivery, DeliveryId>, InfraError>;
}

/// Why an attempt got no HTTP answer, in our words (stored in the deliveries log, shown to
/// the endpoint's owner: never library text or resolved addresses).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SendFailure(pub String);

/// Sends webhook requests (an HTTP client with a short timeout that follows no redirects).
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait WebhookSender: Send + Sync {
    /// POSTs the request; the answer's status code (any, 2xx or not), or why none came
    /// (timeout, connection failed).
    async fn send(&self, request: &OutgoingWebhook) -> Result<u16, SendFailure>;
}

/// Writes the JSON body of a delivery: `{"event", "seq", "order", "fill"?, "at"}`, the
/// order as the REST API shows it.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
pub trait WebhookPayloads: Send + Sync {
    fn body(&self, event: &TradeEvent) -> Result<String, InfraError>;
}
