use super::models::{Delivery, DeliveryId, EventKinds, WebhookEndpoint, WebhookId, WebhookUrl, WebhookUrlError};
use super::ports::WebhookStore;
use crate::crypto::{SecretCipher, TokenDigests};
use crate::error::InfraError;
use crate::orders::EventStore;
use crate::paging::{Page, PageRequest};
use crate::rbac::{Forbidden, Permission, Principal};
use crate::system::{Clock, IdGenerator};
use std::sync::Arc;

const SECRET_BYTES: usize = 32;
/// The most live endpoints one account may register.
pub const MAX_ENDPOINTS_PER_ACCOUNT: usize = 10;

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error(transparent)]
    Forbidden(#[from] Forbidden),
    #[error("no such webhook")]
    NotFound,
    #[error("invalid url: {0}")]
    InvalidUrl(#[from] WebhookUrlError),
    #[error("too many webhooks")]
    TooMany,
    #[error(transparent)]
    Infra(#[from] InfraError),
}

/// A new endpoint and its signing secret, which is shown this once.
#[derive(Debug)]
pub struct CreatedWebhook {
    pub endpoint: WebhookEndpoint,
    pub secret: String,
}

/// The ports [`WebhookService`] needs.
pub struct WebhookPorts {
    pub store: Arc<dyn WebhookStore>,
    pub events: Arc<dyn EventStore>,
    pub cipher: Arc<dyn SecretCipher>,
    pub digests: Arc<dyn TokenDigests>,
    pub clock: Arc<dyn Clock>,
    pub ids: Arc<dyn IdGenerator>,
}

/// Registering, listing and deleting endpoints, and reading their deliveries log.
///
/// Permission: [`Permission::ReadOwn`]. An endpoint receives exactly the trade updates its
/// owner may already read (`GET /orders`, `GET /events`); it neither places nor moves
/// anything, so a read-scoped API key may register one for its program.
#[derive(Clone)]
pub struct WebhookService {
    store: Arc<dyn WebhookStore>,
    events: Arc<dyn EventStore>,
    cipher: Arc<dyn SecretCipher>,
    digests: Arc<dyn TokenDigests>,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGenerator>,
    allow_http_localhost: bool,
}

impl WebhookService {
    /// `allow_http_localhost`: accept `http://127.0.0.1`/`localhost` URLs (tests only).
    pub fn new(p: WebhookPorts, allow_http_localhost: bool) -> Self {
        Self {
            store: p.store,
            events: p.events,
            cipher: p.cipher,
            digests: p.digests,
            clock: p.clock,
            ids: p.ids,
            allow_http_localhost,
        }
    }

    /// Checks a URL as [`create`](Self::create) will.
    pub fn parse_url(&self, raw: &str) -> Result<WebhookUrl, WebhookUrlError> {
        WebhookUrl::parse(raw, self.allow_http_localhost)
    }

    /// Registers an endpoint for the caller's account. Only events after this moment are
    /// delivered (history is in `GET /orders`).
    #[tracing::instrument(skip_all, fields(account.id = %who.account_id))]
    pub async fn create(&self, who: &Principal, url: &str, events: EventKinds) -> Result<CreatedWebhook, WebhookError> {
        who.require(Permission::ReadOwn)?;
        let url = self.parse_url(url)?;
        let existing = PageRequest::first(u16::try_from(MAX_ENDPOINTS_PER_ACCOUNT).unwrap_or(u16::MAX));
        if let Some(first) = existing {
            let page = self.store.list_endpoints(who.account_id, &first).await?;
            if page.items.len() >= MAX_ENDPOINTS_PER_ACCOUNT {
                return Err(WebhookError::TooMany);
            }
        }
        let cursor = self.events.last_event_seq(who.account_id).await?;
        let secret = format!("whsec_{}", self.digests.random_token(SECRET_BYTES));
        let endpoint = WebhookEndpoint {
            id: WebhookId::from_uuid(self.ids.new_id()),
            account_id: who.account_id,
            url,
            events,
            created_at: self.clock.now(),
        };
        self.store.create_endpoint(&endpoint, &self.cipher.seal(secret.as_bytes())?, cursor).await?;
        tracing::info!(webhook.id = %endpoint.id, "webhook endpoint registered");
        Ok(CreatedWebhook { endpoint, secret })
    }

    pub async fn list(
        &self,
        who: &Principal,
        page: &PageRequest<WebhookId>,
    ) -> Result<Page<WebhookEndpoint, WebhookId>, WebhookError> {
        who.require(Permission::ReadOwn)?;
        Ok(self.store.list_endpoints(who.account_id, page).await?)
    }

    /// Deletes one of the caller's endpoints; another account's is `NotFound`.
    pub async fn delete(&self, who: &Principal, id: WebhookId) -> Result<(), WebhookError> {
        who.require(Permission::ReadOwn)?;
        if self.store.delete_endpoint(who.account_id, id, self.clock.now()).await? {
            Ok(())
        } else {
            Err(WebhookError::NotFound)
        }
    }

    /// The deliveries log of one of the caller's endpoints, newest first; another account's
    /// endpoint is `NotFound`.
    pub async fn deliveries(
        &self,
        who: &Principal,
        id: WebhookId,
        page: &PageRequest<DeliveryId>,
    ) -> Result<Page<Delivery, DeliveryId>, WebhookError> {
        who.require(Permission::ReadOwn)?;
        if self.store.get_endpoint(who.account_id, id).await?.is_none() {
            return Err(WebhookError::NotFound);
        }
        Ok(self.store.list_deliveries(who.account_id, id, page).await?)
    }
}
