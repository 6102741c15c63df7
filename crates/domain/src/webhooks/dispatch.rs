//! The dispatcher: outbox events → deliveries → signed POSTs, retried with backoff.
//!
//! One pass ([`WebhookDispatcher::run_once`]) has two steps, each safe to run on several
//! instances at once:
//! 1. [`enqueue_new_events`](WebhookDispatcher::enqueue_new_events): for each live endpoint,
//!    the account's events after the endpoint's cursor become deliveries (those of the kinds it
//!    subscribed to), and the cursor moves, in one atomic store step guarded by the old cursor;
//! 2. [`claim_due`](WebhookDispatcher::claim_due) then [`deliver`](WebhookDispatcher::deliver)
//!    each: due deliveries are leased to one worker, signed, sent, and their outcome recorded
//!    (2xx → delivered; otherwise pending again after the backoff, or failed after the last
//!    attempt).
//!
//! `run_once` sends one by one; the app's worker sends a claimed batch concurrently instead, so
//! a slow endpoint costs at most one send timeout and never holds up another endpoint.

use super::models::{
    AttemptOutcome, Backoff, ClaimedDelivery, DeliveryId, DeliveryStatus, NewDelivery, OutgoingWebhook,
    signature_header, signed_message,
};
use super::ports::{WebhookPayloads, WebhookSender, WebhookStore};
use crate::crypto::{SecretCipher, Signatures};
use crate::error::InfraError;
use crate::orders::EventStore;
use crate::system::{Clock, IdGenerator};
use std::sync::Arc;
use std::time::Duration;

/// How the dispatcher batches, leases and retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DispatchPolicy {
    pub backoff: Backoff,
    /// How long a claimed delivery is reserved for its worker (longer than a send's timeout).
    pub lease: Duration,
    /// Deliveries claimed per pass (the app sends them concurrently).
    pub batch: usize,
    /// At most this many of one endpoint's deliveries per pass, so a backlog at one endpoint
    /// cannot fill the batch.
    pub per_endpoint: usize,
    /// Events read per endpoint per pass.
    pub events_per_endpoint: usize,
    /// Endpoints looked at per pass.
    pub endpoints_per_pass: usize,
}

impl Default for DispatchPolicy {
    fn default() -> Self {
        Self {
            backoff: Backoff::default(),
            lease: Duration::from_secs(60),
            batch: 32,
            per_endpoint: 8,
            events_per_endpoint: 100,
            endpoints_per_pass: 1000,
        }
    }
}

/// The ports [`WebhookDispatcher`] needs.
pub struct DispatchPorts {
    pub store: Arc<dyn WebhookStore>,
    pub events: Arc<dyn EventStore>,
    pub payloads: Arc<dyn WebhookPayloads>,
    pub sender: Arc<dyn WebhookSender>,
    pub cipher: Arc<dyn SecretCipher>,
    pub signatures: Arc<dyn Signatures>,
    pub clock: Arc<dyn Clock>,
    pub ids: Arc<dyn IdGenerator>,
}

/// What a pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DispatchReport {
    pub enqueued: usize,
    pub delivered: usize,
    pub retrying: usize,
    pub failed: usize,
}

impl DispatchReport {
    pub fn count(&mut self, status: DeliveryStatus) {
        match status {
            DeliveryStatus::Delivered => self.delivered += 1,
            DeliveryStatus::Pending => self.retrying += 1,
            DeliveryStatus::Failed => self.failed += 1,
        }
    }
}

#[derive(Clone)]
pub struct WebhookDispatcher {
    store: Arc<dyn WebhookStore>,
    events: Arc<dyn EventStore>,
    payloads: Arc<dyn WebhookPayloads>,
    sender: Arc<dyn WebhookSender>,
    cipher: Arc<dyn SecretCipher>,
    signatures: Arc<dyn Signatures>,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGenerator>,
    policy: DispatchPolicy,
}

impl WebhookDispatcher {
    pub fn new(p: DispatchPorts, policy: DispatchPolicy) -> Self {
        Self {
            store: p.store,
            events: p.events,
            payloads: p.payloads,
            sender: p.sender,
            cipher: p.cipher,
            signatures: p.signatures,
            clock: p.clock,
            ids: p.ids,
            policy,
        }
    }

    pub fn policy(&self) -> &DispatchPolicy {
        &self.policy
    }

    /// One pass: enqueue new events, then claim and send due deliveries one by one.
    pub async fn run_once(&self) -> Result<DispatchReport, InfraError> {
        let mut report = DispatchReport { enqueued: self.enqueue_new_events().await?, ..DispatchReport::default() };
        for claimed in self.claim_due().await? {
            report.count(self.deliver(claimed).await);
        }
        Ok(report)
    }

    /// Turns each live endpoint's new events into deliveries; the number stored. A failure at
    /// one endpoint is logged and the others go on.
    #[tracing::instrument(skip_all)]
    pub async fn enqueue_new_events(&self) -> Result<usize, InfraError> {
        let mut enqueued = 0;
        for (endpoint, cursor) in self.store.active_endpoints(self.policy.endpoints_per_pass).await? {
            let events =
                match self.events.events_after(endpoint.account_id, cursor, self.policy.events_per_endpoint).await {
                    Ok(events) => events,
                    Err(e) => {
                        tracing::warn!(webhook.id = %endpoint.id, error = %e, "reading trade events failed");
                        continue;
                    }
                };
            let Some(last) = events.last().map(|e| e.seq) else { continue };
            let now = self.clock.now();
            let mut deliveries = Vec::new();
            for event in events.iter().filter(|e| endpoint.events.contains(e.kind)) {
                let body = match self.payloads.body(event) {
                    Ok(body) => body,
                    Err(e) => {
                        tracing::error!(webhook.id = %endpoint.id, event.seq = event.seq, error = %e, "webhook body not written");
                        continue;
                    }
                };
                deliveries.push(NewDelivery {
                    id: DeliveryId::from_uuid(self.ids.new_id()),
                    endpoint_id: endpoint.id,
                    account_id: endpoint.account_id,
                    event_seq: event.seq,
                    event: event.kind,
                    body,
                    created_at: now,
                });
            }
            match self.store.enqueue(endpoint.id, cursor, last, &deliveries).await {
                Ok(true) => enqueued += deliveries.len(),
                Ok(false) => tracing::debug!(webhook.id = %endpoint.id, "cursor moved by another worker"),
                Err(e) => tracing::warn!(webhook.id = %endpoint.id, error = %e, "enqueueing deliveries failed"),
            }
        }
        Ok(enqueued)
    }

    /// Leases a batch of due deliveries to this worker.
    pub async fn claim_due(&self) -> Result<Vec<ClaimedDelivery>, InfraError> {
        let now = self.clock.now();
        let lease = chrono::Duration::from_std(self.policy.lease).unwrap_or(chrono::Duration::seconds(60));
        self.store.claim_due(now, now + lease, self.policy.batch, self.policy.per_endpoint).await
    }

    /// One attempt: signs and sends the delivery, records the outcome, returns its new status.
    #[tracing::instrument(skip_all, fields(webhook.id = %claimed.endpoint_id, delivery.id = %claimed.id, event.seq = claimed.event_seq))]
    pub async fn deliver(&self, claimed: ClaimedDelivery) -> DeliveryStatus {
        let attempt = claimed.attempts_before.saturating_add(1);
        let result = match self.request(&claimed) {
            Ok(request) => self.sender.send(&request).await.map_err(|e| e.0),
            Err(e) => {
                tracing::error!(error = %e, "webhook secret unreadable");
                Err("internal error".to_owned())
            }
        };
        let now = self.clock.now();
        let (response_status, error) = match result {
            Ok(status) if (200..300).contains(&status) => (Some(status), None),
            Ok(status) => (Some(status), Some(format!("HTTP {status}"))),
            Err(why) => (None, Some(why)),
        };
        let outcome = if error.is_none() {
            AttemptOutcome {
                attempt,
                status: DeliveryStatus::Delivered,
                response_status,
                error: None,
                next_attempt_at: None,
                delivered_at: Some(now),
            }
        } else {
            let next = self.policy.backoff.delay_after(attempt).and_then(|d| chrono::Duration::from_std(d).ok());
            AttemptOutcome {
                attempt,
                status: if next.is_some() { DeliveryStatus::Pending } else { DeliveryStatus::Failed },
                response_status,
                error,
                next_attempt_at: next.map(|d| now + d),
                delivered_at: None,
            }
        };
        tracing::info!(attempt, status = outcome.status.as_str(), http.response.status_code = ?response_status, "webhook attempt");
        if let Err(e) = self.store.record_attempt(claimed.id, &outcome).await {
            // The lease runs out and the delivery is tried again: at-least-once.
            tracing::warn!(error = %e, "webhook attempt not recorded");
        }
        outcome.status
    }

    /// The signed request for a delivery.
    fn request(&self, claimed: &ClaimedDelivery) -> Result<OutgoingWebhook, InfraError> {
        let secret = self.cipher.open(&claimed.sealed_secret)?;
        let timestamp = self.clock.now().timestamp();
        let signature = self.signatures.sign(&secret, &signed_message(timestamp, &claimed.body));
        Ok(OutgoingWebhook {
            url: claimed.url.clone(),
            headers: vec![
                ("Content-Type", "application/json".to_owned()),
                ("X-Signature", signature_header(timestamp, &signature)),
                ("X-Webhook-Id", claimed.endpoint_id.to_string()),
                ("X-Event-Seq", claimed.event_seq.to_string()),
                ("X-Delivery-Id", claimed.id.to_string()),
            ],
            body: claimed.body.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::models::{EventKinds, WebhookEndpoint, WebhookId, WebhookUrl};
    use super::super::ports::{MockWebhookPayloads, MockWebhookSender, MockWebhookStore, SendFailure};
    use super::*;
    use crate::crypto::{MockSecretCipher, MockSignatures};
    use crate::ids::AccountId;
    use crate::orders::{EventKind, MockEventStore};
    use crate::system::{MockClock, MockIdGenerator};
    use chrono::{DateTime, TimeZone, Utc};
    use std::sync::Mutex;
    use uuid::Uuid;

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 0).single().expect("valid time")
    }

    fn claimed(n: u128, url: &str, attempts_before: u32) -> ClaimedDelivery {
        ClaimedDelivery {
            id: DeliveryId::from_uuid(Uuid::from_u128(n)),
            endpoint_id: WebhookId::from_uuid(Uuid::from_u128(100 + n)),
            url: WebhookUrl::from_trusted(url.to_owned()),
            sealed_secret: format!("sealed:{url}"),
            event_seq: 7,
            event: EventKind::Fill,
            body: "{\"event\":\"fill\"}".to_owned(),
            attempts_before,
        }
    }

    /// A dispatcher whose sender answers per URL and whose store records outcomes.
    fn dispatcher(
        store: MockWebhookStore,
        answer: impl Fn(&OutgoingWebhook) -> Result<u16, SendFailure> + Send + Sync + 'static,
        sent: Arc<Mutex<Vec<OutgoingWebhook>>>,
    ) -> WebhookDispatcher {
        let mut sender = MockWebhookSender::new();
        sender.expect_send().returning(move |req| {
            sent.lock().expect("lock").push(req.clone());
            answer(req)
        });
        let mut cipher = MockSecretCipher::new();
        cipher.expect_open().returning(|sealed| Ok(sealed.trim_start_matches("sealed:").as_bytes().to_vec()));
        let mut signatures = MockSignatures::new();
        signatures.expect_sign().returning(|secret, msg| format!("{}|{}", secret.len(), String::from_utf8_lossy(msg)));
        let mut clock = MockClock::new();
        clock.expect_now().returning(at);
        let mut ids = MockIdGenerator::new();
        ids.expect_new_id().returning(Uuid::now_v7);
        WebhookDispatcher::new(
            DispatchPorts {
                store: Arc::new(store),
                events: Arc::new(MockEventStore::new()),
                payloads: Arc::new(MockWebhookPayloads::new()),
                sender: Arc::new(sender),
                cipher: Arc::new(cipher),
                signatures: Arc::new(signatures),
                clock: Arc::new(clock),
                ids: Arc::new(ids),
            },
            DispatchPolicy::default(),
        )
    }

    type Recorded = Arc<Mutex<Vec<(DeliveryId, AttemptOutcome)>>>;

    fn recording_store(due: Vec<ClaimedDelivery>) -> (MockWebhookStore, Recorded) {
        let recorded = Arc::new(Mutex::new(Vec::new()));
        let mut store = MockWebhookStore::new();
        store.expect_active_endpoints().returning(|_| Ok(Vec::new()));
        store.expect_claim_due().times(1).returning(move |_, _, _, _| Ok(due.clone()));
        let log = recorded.clone();
        store.expect_record_attempt().returning(move |id, outcome| {
            log.lock().expect("lock").push((id, outcome.clone()));
            Ok(())
        });
        (store, recorded)
    }

    #[tokio::test]
    async fn a_2xx_marks_the_delivery_delivered_and_the_request_is_signed() {
        let (store, recorded) = recording_store(vec![claimed(1, "https://a.example/hook", 0)]);
        let sent = Arc::new(Mutex::new(Vec::new()));
        let report = dispatcher(store, |_| Ok(204), sent.clone()).run_once().await.expect("pass");
        assert_eq!(report.delivered, 1);
        let recorded = recorded.lock().expect("lock");
        let (_, outcome) = &recorded[0];
        assert_eq!(
            (outcome.attempt, outcome.status, outcome.response_status, outcome.delivered_at),
            (1, DeliveryStatus::Delivered, Some(204), Some(at()))
        );
        let sent = sent.lock().expect("lock");
        let header = |name: &str| sent[0].headers.iter().find(|(n, _)| *n == name).map(|(_, v)| v.clone());
        let t = at().timestamp();
        // The mock signature shows what was signed: the secret, then `t + "." + body`.
        let expected = format!("t={t},v1={}|{t}.{{\"event\":\"fill\"}}", "https://a.example/hook".len());
        assert_eq!(header("X-Signature"), Some(expected));
        assert_eq!(header("Content-Type").as_deref(), Some("application/json"));
        assert_eq!(header("X-Event-Seq").as_deref(), Some("7"));
        assert_eq!(header("X-Webhook-Id"), Some(Uuid::from_u128(101).to_string()));
    }

    #[tokio::test]
    async fn a_500_is_retried_after_the_backoff_and_the_last_failure_is_final() {
        let (store, recorded) =
            recording_store(vec![claimed(1, "https://a.example/", 0), claimed(2, "https://a.example/", 9)]);
        let sent = Arc::new(Mutex::new(Vec::new()));
        let report = dispatcher(store, |_| Ok(500), sent).run_once().await.expect("pass");
        assert_eq!((report.retrying, report.failed), (1, 1));
        let recorded = recorded.lock().expect("lock");
        let first = &recorded[0].1;
        assert_eq!(
            (first.attempt, first.status, first.response_status, first.error.as_deref()),
            (1, DeliveryStatus::Pending, Some(500), Some("HTTP 500"))
        );
        assert_eq!(first.next_attempt_at, Some(at() + chrono::Duration::seconds(1)));
        let last = &recorded[1].1;
        assert_eq!((last.attempt, last.status, last.next_attempt_at), (10, DeliveryStatus::Failed, None));
    }

    #[tokio::test]
    async fn a_dead_endpoint_does_not_block_another_endpoints_deliveries() {
        let (store, recorded) =
            recording_store(vec![claimed(1, "https://dead.example/", 2), claimed(2, "https://alive.example/", 0)]);
        let sent = Arc::new(Mutex::new(Vec::new()));
        let answer = |req: &OutgoingWebhook| {
            if req.url.as_str().contains("dead") { Err(SendFailure("timeout".into())) } else { Ok(200) }
        };
        let report = dispatcher(store, answer, sent).run_once().await.expect("pass");
        assert_eq!((report.delivered, report.retrying), (1, 1));
        let recorded = recorded.lock().expect("lock");
        let dead = &recorded.iter().find(|(id, _)| *id == DeliveryId::from_uuid(Uuid::from_u128(1))).expect("dead").1;
        assert_eq!((dead.attempt, dead.error.as_deref()), (3, Some("timeout")));
        assert_eq!(dead.next_attempt_at, Some(at() + chrono::Duration::seconds(4)));
        let alive = &recorded.iter().find(|(id, _)| *id == DeliveryId::from_uuid(Uuid::from_u128(2))).expect("alive").1;
        assert_eq!(alive.status, DeliveryStatus::Delivered);
    }

    #[tokio::test]
    async fn new_events_of_subscribed_kinds_are_enqueued_and_the_cursor_moves_past_all() {
        use crate::orders::TradeEvent;
        let account = AccountId::from_uuid(Uuid::from_u128(9));
        let endpoint = WebhookEndpoint {
            id: WebhookId::from_uuid(Uuid::from_u128(5)),
            account_id: account,
            url: WebhookUrl::from_trusted("https://a.example/".into()),
            events: EventKinds::new([EventKind::Fill]).expect("kinds"),
            created_at: at(),
        };
        let mut store = MockWebhookStore::new();
        let listed = endpoint.clone();
        store.expect_active_endpoints().returning(move |_| Ok(vec![(listed.clone(), 3)]));
        store
            .expect_enqueue()
            .withf(|_, from, to, deliveries| {
                *from == 3 && *to == 5 && deliveries.len() == 1 && deliveries[0].event_seq == 5
            })
            .times(1)
            .returning(|_, _, _, _| Ok(true));
        let mut events = MockEventStore::new();
        let order = crate::orders::Order::submitted(
            crate::ids::OrderId::from_uuid(Uuid::from_u128(77)),
            account,
            crate::market::Symbol::parse("AAPL").expect("symbol"),
            crate::orders::Side::Buy,
            crate::orders::OrderType::Market,
            crate::orders::TimeInForce::Day,
            crate::values::Quantity::new(rust_decimal::Decimal::ONE).expect("qty"),
            at(),
        );
        events.expect_events_after().withf(move |a, after, _| *a == account && *after == 3).returning(
            move |_, _, _| {
                Ok(vec![
                    TradeEvent {
                        account_id: account,
                        seq: 4,
                        kind: EventKind::New,
                        order: order.clone(),
                        fill: None,
                        at: at(),
                    },
                    TradeEvent {
                        account_id: account,
                        seq: 5,
                        kind: EventKind::Fill,
                        order: order.clone(),
                        fill: None,
                        at: at(),
                    },
                ])
            },
        );
        let mut payloads = MockWebhookPayloads::new();
        payloads.expect_body().returning(|e| Ok(format!("{{\"seq\":{}}}", e.seq)));
        let mut clock = MockClock::new();
        clock.expect_now().returning(at);
        let mut ids = MockIdGenerator::new();
        ids.expect_new_id().returning(Uuid::now_v7);
        let dispatcher = WebhookDispatcher::new(
            DispatchPorts {
                store: Arc::new(store),
                events: Arc::new(events),
                payloads: Arc::new(payloads),
                sender: Arc::new(MockWebhookSender::new()),
                cipher: Arc::new(MockSecretCipher::new()),
                signatures: Arc::new(MockSignatures::new()),
                clock: Arc::new(clock),
                ids: Arc::new(ids),
            },
            DispatchPolicy::default(),
        );
        assert_eq!(dispatcher.enqueue_new_events().await.expect("pass"), 1);
    }
}
