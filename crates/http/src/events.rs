//! `GET /api/v1/events`: the caller's trade updates as Server-Sent Events (API.md, "Trade
//! updates").
//!
//! The stream polls the trade-update outbox ([`OrderService::events_after`]) rather than
//! listening to this process: events written by any instance (the execution engine runs in
//! every one) reach every stream, and a client that reconnects with `Last-Event-ID` after a
//! restart or to another instance misses nothing. Each event is one frame:
//!
//! ```text
//! event: fill
//! id: 12
//! data: {"event":"fill","seq":12,"order":{…},"fill":{"qty":"1","price":"190.02"},"at":"…"}
//! ```
//!
//! A comment line (`: keep-alive`) goes out when nothing was sent for
//! [`EventStreams::keep_alive`], so proxies keep the connection. A stream ends when the client
//! goes away (actix drops it) or when the server begins a graceful stop ([`Shutdown`]), so open
//! streams never hold a shutdown for its whole grace period.

use crate::dto::webhooks::WebhookEventBody;
use actix_web::web::Bytes;
use brokerage_domain::orders::{OrderService, TradeEvent};
use brokerage_domain::rbac::Principal;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

/// The server's "stopping" signal: long-lived work (event streams, background workers) ends
/// when it is triggered. Cloning shares the signal.
#[derive(Debug, Clone)]
pub struct Shutdown(Arc<watch::Sender<bool>>);

impl Default for Shutdown {
    fn default() -> Self {
        Self(Arc::new(watch::channel(false).0))
    }
}

impl Shutdown {
    /// Signals every holder; idempotent.
    pub fn trigger(&self) {
        self.0.send_replace(true);
    }

    pub fn is_triggered(&self) -> bool {
        *self.0.borrow()
    }

    /// Resolves once [`trigger`](Self::trigger) was called (at once if it already was).
    pub async fn triggered(&self) {
        let mut rx = self.0.subscribe();
        // The sender lives in `self`: `wait_for` cannot see it dropped.
        let _ = rx.wait_for(|stopping| *stopping).await;
    }
}

/// How event streams run.
#[derive(Debug, Clone)]
pub struct EventStreams {
    /// How often a stream asks the outbox for new events.
    pub poll_interval: Duration,
    /// A comment line is sent after this long without any frame.
    pub keep_alive: Duration,
    /// Events read per poll; a full batch is followed by another read at once.
    pub batch: usize,
    /// Triggered when the server begins to stop: every stream ends.
    pub shutdown: Shutdown,
}

impl Default for EventStreams {
    /// 250 ms polls of up to 500 events, a keep-alive every 15 s.
    fn default() -> Self {
        Self {
            poll_interval: Duration::from_millis(250),
            keep_alive: Duration::from_secs(15),
            batch: 500,
            shutdown: Shutdown::default(),
        }
    }
}

/// The first bytes of every stream: the client knows at once that it is connected.
const OPENING: &str = ": connected\n\n";
const KEEP_ALIVE: &str = ": keep-alive\n\n";

/// One event as an SSE frame.
pub fn frame(event: &TradeEvent) -> Result<String, serde_json::Error> {
    let data = serde_json::to_string(&WebhookEventBody::from(event))?;
    Ok(format!("event: {}\nid: {}\ndata: {data}\n\n", event.kind.as_str(), event.seq))
}

struct StreamState {
    orders: OrderService,
    who: Principal,
    /// The last event sent (or skipped): the next read starts after it.
    cursor: u64,
    pending: VecDeque<Bytes>,
    config: EventStreams,
    last_sent: Instant,
    opened: bool,
}

/// The caller's events with `seq > after`, then live ones, until the client leaves or the
/// server stops.
pub fn stream(
    orders: OrderService,
    who: Principal,
    after: u64,
    config: EventStreams,
) -> impl futures_util::Stream<Item = Result<Bytes, actix_web::Error>> + 'static {
    let state = StreamState {
        orders,
        who,
        cursor: after,
        pending: VecDeque::new(),
        config,
        last_sent: Instant::now(),
        opened: false,
    };
    futures_util::stream::unfold(state, |mut st| async move {
        if !st.opened {
            st.opened = true;
            return Some((Ok(Bytes::from_static(OPENING.as_bytes())), st));
        }
        loop {
            if let Some(chunk) = st.pending.pop_front() {
                st.last_sent = Instant::now();
                return Some((Ok(chunk), st));
            }
            if st.config.shutdown.is_triggered() {
                tracing::debug!(account.id = %st.who.account_id, "event stream closed: the server is stopping");
                return None;
            }
            match st.orders.events_after(&st.who, st.cursor, st.config.batch.max(1)).await {
                Ok(events) if !events.is_empty() => {
                    for event in &events {
                        st.cursor = event.seq;
                        match frame(event) {
                            Ok(text) => st.pending.push_back(Bytes::from(text)),
                            Err(e) => {
                                tracing::error!(error = %e, event.seq = event.seq, "an event could not be written")
                            }
                        }
                    }
                    continue;
                }
                Ok(_) => {}
                // The store is down: keep the stream, try again at the next poll.
                Err(e) => tracing::warn!(error = %e, account.id = %st.who.account_id, "reading trade events failed"),
            }
            let keep_alive_at = st.last_sent + st.config.keep_alive;
            if Instant::now() >= keep_alive_at {
                st.last_sent = Instant::now();
                return Some((Ok(Bytes::from_static(KEEP_ALIVE.as_bytes())), st));
            }
            let next_poll = (Instant::now() + st.config.poll_interval).min(keep_alive_at);
            let shutdown = st.config.shutdown.clone();
            tokio::select! {
                () = tokio::time::sleep_until(next_poll) => {}
                () = shutdown.triggered() => {}
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn shutdown_wakes_every_waiter_and_stays_triggered() {
        let s = Shutdown::default();
        assert!(!s.is_triggered());
        let waiter = tokio::spawn({
            let s = s.clone();
            async move { s.triggered().await }
        });
        s.trigger();
        tokio::time::timeout(Duration::from_secs(1), waiter).await.expect("woken").expect("joined");
        assert!(s.is_triggered());
        tokio::time::timeout(Duration::from_millis(50), s.triggered()).await.expect("already triggered");
    }
}
