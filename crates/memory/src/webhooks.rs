//! Webhook endpoints and deliveries in memory (demo mode and tests). Its own mutex: every
//! method is atomic, as the Postgres adapter's transactions are.

use async_trait::async_trait;
use brokerage_domain::webhooks::{
    AttemptOutcome, ClaimedDelivery, Delivery, DeliveryId, DeliveryStatus, NewDelivery, WebhookEndpoint, WebhookId,
    WebhookStore,
};
use brokerage_domain::{AccountId, InfraError, Page, PageRequest};
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

struct StoredEndpoint {
    endpoint: WebhookEndpoint,
    sealed_secret: String,
    cursor: u64,
    /// When the cursor last moved (endpoints waiting longest are looked at first).
    cursor_moved: u64,
    deleted: bool,
}

struct StoredDelivery {
    delivery: Delivery,
    body: String,
}

#[derive(Default)]
struct State {
    endpoints: BTreeMap<WebhookId, StoredEndpoint>,
    deliveries: BTreeMap<DeliveryId, StoredDelivery>,
    /// `(endpoint, event seq)` → delivery: one delivery per event and endpoint.
    by_event: HashMap<(WebhookId, u64), DeliveryId>,
    moves: u64,
}

/// The [`WebhookStore`] in process memory.
#[derive(Clone, Default)]
pub struct MemoryWebhooks {
    state: Arc<Mutex<State>>,
}

impl MemoryWebhooks {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> Result<MutexGuard<'_, State>, InfraError> {
        self.state.lock().map_err(|_| InfraError::Unknown(anyhow::anyhow!("memory webhooks lock poisoned")))
    }
}

#[async_trait]
impl WebhookStore for MemoryWebhooks {
    async fn create_endpoint(
        &self,
        endpoint: &WebhookEndpoint,
        sealed_secret: &str,
        cursor: u64,
    ) -> Result<(), InfraError> {
        let mut s = self.lock()?;
        s.moves += 1;
        let stored = StoredEndpoint {
            endpoint: endpoint.clone(),
            sealed_secret: sealed_secret.to_owned(),
            cursor,
            cursor_moved: s.moves,
            deleted: false,
        };
        s.endpoints.insert(endpoint.id, stored);
        Ok(())
    }

    async fn list_endpoints(
        &self,
        account: AccountId,
        page: &PageRequest<WebhookId>,
    ) -> Result<Page<WebhookEndpoint, WebhookId>, InfraError> {
        let s = self.lock()?;
        let items = s
            .endpoints
            .values()
            .filter(|e| e.endpoint.account_id == account && !e.deleted)
            .filter(|e| page.after.is_none_or(|after| e.endpoint.id > after))
            .take(page.fetch_limit())
            .map(|e| e.endpoint.clone())
            .collect();
        Ok(page.into_page(items, |e| e.id))
    }

    async fn get_endpoint(&self, account: AccountId, id: WebhookId) -> Result<Option<WebhookEndpoint>, InfraError> {
        let s = self.lock()?;
        Ok(s.endpoints.get(&id).filter(|e| e.endpoint.account_id == account && !e.deleted).map(|e| e.endpoint.clone()))
    }

    async fn delete_endpoint(&self, account: AccountId, id: WebhookId, _at: DateTime<Utc>) -> Result<bool, InfraError> {
        let mut s = self.lock()?;
        match s.endpoints.get_mut(&id) {
            Some(e) if e.endpoint.account_id == account && !e.deleted => {
                e.deleted = true;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn active_endpoints(&self, limit: usize) -> Result<Vec<(WebhookEndpoint, u64)>, InfraError> {
        let s = self.lock()?;
        let mut live: Vec<&StoredEndpoint> = s.endpoints.values().filter(|e| !e.deleted).collect();
        live.sort_by_key(|e| e.cursor_moved);
        Ok(live.into_iter().take(limit).map(|e| (e.endpoint.clone(), e.cursor)).collect())
    }

    async fn enqueue(
        &self,
        endpoint: WebhookId,
        from: u64,
        to: u64,
        deliveries: &[NewDelivery],
    ) -> Result<bool, InfraError> {
        let mut s = self.lock()?;
        s.moves += 1;
        let moves = s.moves;
        match s.endpoints.get_mut(&endpoint) {
            Some(e) if !e.deleted && e.cursor == from => {
                e.cursor = to;
                e.cursor_moved = moves;
            }
            _ => return Ok(false),
        }
        for d in deliveries {
            if s.by_event.contains_key(&(d.endpoint_id, d.event_seq)) {
                continue;
            }
            s.by_event.insert((d.endpoint_id, d.event_seq), d.id);
            let delivery = Delivery {
                id: d.id,
                endpoint_id: d.endpoint_id,
                account_id: d.account_id,
                event_seq: d.event_seq,
                event: d.event,
                attempt: 0,
                status: DeliveryStatus::Pending,
                response_status: None,
                error: None,
                next_attempt_at: Some(d.created_at),
                delivered_at: None,
                created_at: d.created_at,
            };
            s.deliveries.insert(d.id, StoredDelivery { delivery, body: d.body.clone() });
        }
        Ok(true)
    }

    async fn claim_due(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: usize,
        per_endpoint: usize,
    ) -> Result<Vec<ClaimedDelivery>, InfraError> {
        let mut guard = self.lock()?;
        let s = &mut *guard;
        let mut due: Vec<&mut StoredDelivery> = s
            .deliveries
            .values_mut()
            .filter(|d| d.delivery.status == DeliveryStatus::Pending)
            .filter(|d| d.delivery.next_attempt_at.is_some_and(|at| at <= now))
            .filter(|d| s.endpoints.get(&d.delivery.endpoint_id).is_some_and(|e| !e.deleted))
            .collect();
        due.sort_by_key(|d| (d.delivery.next_attempt_at, d.delivery.event_seq));
        let mut taken: HashMap<WebhookId, usize> = HashMap::new();
        let mut claimed = Vec::new();
        for d in due {
            if claimed.len() >= limit {
                break;
            }
            let n = taken.entry(d.delivery.endpoint_id).or_default();
            if *n >= per_endpoint {
                continue;
            }
            let Some(endpoint) = s.endpoints.get(&d.delivery.endpoint_id) else { continue };
            *n += 1;
            d.delivery.next_attempt_at = Some(lease_until);
            claimed.push(ClaimedDelivery {
                id: d.delivery.id,
                endpoint_id: d.delivery.endpoint_id,
                url: endpoint.endpoint.url.clone(),
                sealed_secret: endpoint.sealed_secret.clone(),
                event_seq: d.delivery.event_seq,
                event: d.delivery.event,
                body: d.body.clone(),
                attempts_before: d.delivery.attempt,
            });
        }
        Ok(claimed)
    }

    async fn record_attempt(&self, id: DeliveryId, outcome: &AttemptOutcome) -> Result<(), InfraError> {
        let mut s = self.lock()?;
        if let Some(d) = s.deliveries.get_mut(&id) {
            let d = &mut d.delivery;
            d.attempt = outcome.attempt;
            d.status = outcome.status;
            d.response_status = outcome.response_status;
            d.error = outcome.error.clone();
            d.next_attempt_at = outcome.next_attempt_at;
            d.delivered_at = outcome.delivered_at;
        }
        Ok(())
    }

    async fn list_deliveries(
        &self,
        account: AccountId,
        endpoint: WebhookId,
        page: &PageRequest<DeliveryId>,
    ) -> Result<Page<Delivery, DeliveryId>, InfraError> {
        let s = self.lock()?;
        let items = s
            .deliveries
            .values()
            .rev()
            .map(|d| &d.delivery)
            .filter(|d| d.endpoint_id == endpoint && d.account_id == account)
            .filter(|d| page.after.is_none_or(|after| d.id < after))
            .take(page.fetch_limit())
            .cloned()
            .collect();
        Ok(page.into_page(items, |d| d.id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use brokerage_domain::orders::EventKind;
    use brokerage_domain::webhooks::{EventKinds, WebhookUrl};
    use uuid::Uuid;

    fn endpoint(n: u128) -> WebhookEndpoint {
        WebhookEndpoint {
            id: WebhookId::from_uuid(Uuid::from_u128(n)),
            account_id: AccountId::from_uuid(Uuid::from_u128(1)),
            url: WebhookUrl::from_trusted(format!("https://e{n}.example/")),
            events: EventKinds::new(EventKind::ALL).expect("kinds"),
            created_at: Utc::now(),
        }
    }

    fn delivery(endpoint: &WebhookEndpoint, seq: u64) -> NewDelivery {
        NewDelivery {
            id: DeliveryId::from_uuid(Uuid::now_v7()),
            endpoint_id: endpoint.id,
            account_id: endpoint.account_id,
            event_seq: seq,
            event: EventKind::New,
            body: format!("{{\"seq\":{seq}}}"),
            created_at: Utc::now(),
        }
    }

    #[tokio::test]
    async fn the_cursor_guards_enqueue_and_a_claim_is_leased_once() {
        let store = MemoryWebhooks::new();
        let e = endpoint(1);
        store.create_endpoint(&e, "sealed", 0).await.expect("create");
        assert!(store.enqueue(e.id, 0, 2, &[delivery(&e, 1), delivery(&e, 2)]).await.expect("enqueue"));
        assert!(!store.enqueue(e.id, 0, 2, &[delivery(&e, 1)]).await.expect("stale"), "cursor moved");
        let now = Utc::now();
        let lease = now + chrono::Duration::seconds(60);
        let first = store.claim_due(now, lease, 10, 1).await.expect("claim");
        assert_eq!(first.iter().map(|c| c.event_seq).collect::<Vec<_>>(), vec![1], "one per endpoint");
        let second = store.claim_due(now, lease, 10, 10).await.expect("claim");
        assert_eq!(second.iter().map(|c| c.event_seq).collect::<Vec<_>>(), vec![2], "the leased one is skipped");
        assert!(store.delete_endpoint(e.account_id, e.id, now).await.expect("delete"));
        assert!(store.claim_due(lease, lease, 10, 10).await.expect("claim").is_empty(), "deleted endpoint");
    }
}
