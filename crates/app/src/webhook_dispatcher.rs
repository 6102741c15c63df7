//! The webhook dispatcher's background task: every `webhooks.dispatch_interval_ms`, one
//! pass of the domain's [`WebhookDispatcher`]: new outbox events become deliveries, then the
//! due deliveries claimed by this instance are sent concurrently (at most the claim batch at
//! once), so a slow or dead endpoint costs one send timeout and never holds up another
//! endpoint, nor trading (which only writes the outbox). Several instances may run it: the
//! store's cursors and leases keep each delivery with one worker at a time.

use crate::settings::WebhookSettings;
use brokerage_domain::webhooks::{Backoff, DispatchPolicy, WebhookDispatcher};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

/// The dispatch policy the settings describe.
pub fn policy(settings: &WebhookSettings) -> DispatchPolicy {
    let timeout = Duration::from_millis(settings.timeout_ms);
    DispatchPolicy {
        backoff: Backoff {
            base: Duration::from_millis(settings.retry_base_ms.max(1)),
            cap: Duration::from_secs(3600),
            max_attempts: settings.max_attempts.max(1),
        },
        // Past the send's timeout, so a live worker never loses its claim mid-send.
        lease: timeout * 2 + Duration::from_secs(5),
        batch: settings.batch.max(1),
        ..DispatchPolicy::default()
    }
}

/// The task, not yet started.
pub struct WebhookWorker {
    dispatcher: WebhookDispatcher,
    interval: Duration,
}

/// A running task; [`stop`](RunningWebhookWorker::stop) lets the current pass finish.
pub struct RunningWebhookWorker {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl WebhookWorker {
    pub fn new(dispatcher: WebhookDispatcher, interval: Duration) -> Self {
        Self { dispatcher, interval: interval.max(Duration::from_millis(10)) }
    }

    pub fn spawn(self) -> RunningWebhookWorker {
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(async move {
            let mut ticks = tokio::time::interval(self.interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = stopped.changed() => break,
                    _ = ticks.tick() => pass(&self.dispatcher).await,
                }
            }
            tracing::info!("webhook dispatcher stopped");
        });
        RunningWebhookWorker { stop, task }
    }
}

impl RunningWebhookWorker {
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        if let Err(e) = self.task.await {
            tracing::error!(error = %e, "webhook dispatcher task failed");
        }
    }
}

/// One pass; failures are logged and the next tick tries again.
async fn pass(dispatcher: &WebhookDispatcher) {
    if let Err(e) = dispatcher.enqueue_new_events().await {
        tracing::warn!(error = %e, "webhook enqueue pass failed");
    }
    let claimed = match dispatcher.claim_due().await {
        Ok(claimed) => claimed,
        Err(e) => {
            tracing::warn!(error = %e, "claiming webhook deliveries failed");
            return;
        }
    };
    let mut sends = JoinSet::new();
    for delivery in claimed {
        let dispatcher = dispatcher.clone();
        sends.spawn(async move { dispatcher.deliver(delivery).await });
    }
    while let Some(done) = sends.join_next().await {
        if let Err(e) = done {
            tracing::error!(error = %e, "webhook delivery task failed");
        }
    }
}

/// The webhook service (for the API) and the dispatcher task (not yet started), from the
/// stores and the crypto ports start-up already has.
#[allow(clippy::too_many_arguments)]
pub(crate) fn wire(
    settings: &WebhookSettings,
    store: std::sync::Arc<dyn brokerage_domain::webhooks::WebhookStore>,
    events: std::sync::Arc<dyn brokerage_domain::orders::EventStore>,
    cipher: std::sync::Arc<dyn brokerage_domain::crypto::SecretCipher>,
    digests: std::sync::Arc<dyn brokerage_domain::crypto::TokenDigests>,
    clock: std::sync::Arc<dyn brokerage_domain::Clock>,
    ids: std::sync::Arc<dyn brokerage_domain::IdGenerator>,
) -> anyhow::Result<(brokerage_domain::webhooks::WebhookService, WebhookWorker)> {
    use brokerage_domain::webhooks::{DispatchPorts, WebhookPorts, WebhookService};
    use std::sync::Arc;
    if settings.allow_http_localhost {
        tracing::warn!("webhooks.allow_http_localhost is on: http://127.0.0.1 endpoints are accepted (tests only)");
    }
    let service = WebhookService::new(
        WebhookPorts {
            store: store.clone(),
            events: events.clone(),
            cipher: cipher.clone(),
            digests,
            clock: clock.clone(),
            ids: ids.clone(),
        },
        settings.allow_http_localhost,
    );
    let sender = crate::webhook_sender::ReqwestWebhookSender::new(
        Duration::from_millis(settings.timeout_ms),
        settings.allow_http_localhost,
    )?;
    let dispatcher = WebhookDispatcher::new(
        DispatchPorts {
            store,
            events,
            payloads: Arc::new(brokerage_http::dto::webhooks::JsonWebhookPayloads),
            sender: Arc::new(sender),
            cipher,
            signatures: Arc::new(brokerage_security::HmacSigner),
            clock,
            ids,
        },
        policy(settings),
    );
    Ok((service, WebhookWorker::new(dispatcher, Duration::from_millis(settings.dispatch_interval_ms))))
}
