//! An in-process cache of "this session is live", in front of [`RedisSessions`].
//!
//! Every authenticated request checks its session (a logout must end it at once), which was
//! one Redis round trip per request. This cache answers from memory for a session confirmed
//! live less than `ttl` ago, and forgets it as soon as it is revoked:
//!
//! - a revocation made through this instance drops the entry before it returns;
//! - every revocation is published on [`REVOCATIONS`] in the same atomic step as the deletion
//!   (`sessions.rs`), and [`CachedSessions::spawn_listener`] drops the entry on every instance;
//! - the cache is used only while that subscription is known to be up: when the listener
//!   loses it (or a `PING` on it goes unanswered) the cache is emptied and bypassed until it
//!   has subscribed again, so a revocation is never missed for longer than a lost connection
//!   takes to notice — and at most `ttl` in the worst case (a silently dead socket);
//! - an answer read from Redis is stored only if no revocation arrived while it was in
//!   flight (an epoch counter), so a read racing a logout cannot bring the session back.
//!
//! Only "live" answers are cached: an unknown or revoked session always asks Redis.

use crate::sessions::{REVOCATIONS, RedisSessions};
use async_trait::async_trait;
use brokerage_domain::users::{NewSession, Rotation, SessionStore};
use brokerage_domain::{InfraError, SessionId, UserId};
use futures_util::StreamExt;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

/// Beyond this many entries the cache starts over (a bound, not an eviction policy: entries
/// live `ttl` at most anyway).
const MAX_ENTRIES: usize = 100_000;

#[derive(Clone)]
pub struct CachedSessions {
    inner: RedisSessions,
    state: Arc<CacheState>,
}

struct CacheState {
    ttl: Duration,
    /// The revocation subscription is up: only then may the cache answer.
    live: AtomicBool,
    /// Bumped by every invalidation; a read stores its answer only if it did not move.
    epoch: AtomicU64,
    /// Sessions confirmed live, and when.
    entries: Mutex<HashMap<(UserId, SessionId), Instant>>,
}

impl CacheState {
    fn fresh(&self, key: &(UserId, SessionId)) -> bool {
        if !self.live.load(Ordering::Acquire) {
            return false;
        }
        let Ok(entries) = self.entries.lock() else { return false };
        entries.get(key).is_some_and(|at| at.elapsed() < self.ttl)
    }

    fn remember(&self, key: (UserId, SessionId), epoch: u64) {
        let Ok(mut entries) = self.entries.lock() else { return };
        // Checked under the lock, which every invalidation also takes after bumping the epoch.
        if !self.live.load(Ordering::Acquire) || self.epoch.load(Ordering::Acquire) != epoch {
            return;
        }
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(key, Instant::now());
    }

    fn forget(&self, revoked: impl Fn(&(UserId, SessionId)) -> bool) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
        if let Ok(mut entries) = self.entries.lock() {
            entries.retain(|k, _| !revoked(k));
        }
    }

    fn forget_all(&self) {
        self.forget(|_| true);
    }

    /// A message of [`REVOCATIONS`]: `<user>` or `<user>:<session>`.
    fn revoked(&self, message: &str) {
        let mut parts = message.splitn(2, ':');
        let user = parts.next().and_then(|u| uuid::Uuid::parse_str(u).ok()).map(UserId::from_uuid);
        let session = parts.next().map(|s| uuid::Uuid::parse_str(s).ok().map(SessionId::from_uuid));
        match (user, session) {
            (Some(user), None) => self.forget(|(u, _)| *u == user),
            (Some(user), Some(Some(session))) => self.forget(|k| *k == (user, session)),
            // Not ours to parse: drop everything rather than risk keeping a revoked session.
            _ => self.forget_all(),
        }
    }

    fn set_live(&self, live: bool) {
        self.live.store(live, Ordering::Release);
        self.forget_all();
    }
}

impl CachedSessions {
    /// `ttl` bounds how long a confirmed session is trusted without asking Redis. The cache
    /// answers nothing until [`spawn_listener`](Self::spawn_listener)'s subscription is up.
    pub fn new(inner: RedisSessions, ttl: Duration) -> Self {
        let state = CacheState {
            ttl,
            live: AtomicBool::new(false),
            epoch: AtomicU64::new(0),
            entries: Mutex::new(HashMap::new()),
        };
        Self { inner, state: Arc::new(state) }
    }

    /// Whether the cache currently answers (its revocation subscription is up): tests and
    /// start-up wait for it.
    pub fn is_listening(&self) -> bool {
        self.state.live.load(Ordering::Acquire)
    }

    /// Subscribes to [`REVOCATIONS`] on a connection of its own and keeps it up (reconnecting
    /// with back-off) for as long as this cache, or a clone of it, exists.
    pub fn spawn_listener(&self, url: &str) -> Result<(), redis::RedisError> {
        let client = redis::Client::open(url)?;
        tokio::spawn(listen(client, Arc::downgrade(&self.state)));
        Ok(())
    }
}

async fn listen(client: redis::Client, state: Weak<CacheState>) {
    let mut backoff = Duration::from_millis(100);
    loop {
        let Some(ping_every) = state.upgrade().map(|s| (s.ttl / 2).max(Duration::from_millis(100))) else { return };
        match subscribed(&client).await {
            Ok(pubsub) => {
                backoff = Duration::from_millis(100);
                let ended = follow(pubsub, &state, ping_every).await;
                if let Some(s) = state.upgrade() {
                    s.set_live(false);
                }
                match ended {
                    Ended::CacheDropped => return,
                    Ended::Lost(why) => {
                        tracing::warn!(reason = %why, "session revocation channel lost; session cache bypassed")
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot subscribe to session revocations; session cache bypassed"),
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

async fn subscribed(client: &redis::Client) -> redis::RedisResult<redis::aio::PubSub> {
    let mut pubsub = client.get_async_pubsub().await?;
    pubsub.subscribe(REVOCATIONS).await?;
    Ok(pubsub)
}

enum Ended {
    CacheDropped,
    Lost(String),
}

async fn follow(pubsub: redis::aio::PubSub, state: &Weak<CacheState>, ping_every: Duration) -> Ended {
    let (mut sink, mut messages) = pubsub.split();
    match state.upgrade() {
        Some(s) => s.set_live(true),
        None => return Ended::CacheDropped,
    }
    let mut pings = tokio::time::interval(ping_every);
    pings.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            message = messages.next() => {
                let Some(message) = message else { return Ended::Lost("connection closed".into()) };
                let Some(s) = state.upgrade() else { return Ended::CacheDropped };
                match message.get_payload::<String>() {
                    Ok(payload) => s.revoked(&payload),
                    Err(_) => s.forget_all(),
                }
            }
            _ = pings.tick() => {
                if state.strong_count() == 0 {
                    return Ended::CacheDropped;
                }
                // A socket that died silently shows here: no answer within a second.
                match tokio::time::timeout(Duration::from_secs(1), sink.ping::<redis::Value>()).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => return Ended::Lost(e.to_string()),
                    Err(_) => return Ended::Lost("ping timed out".into()),
                }
            }
        }
    }
}

#[async_trait]
impl SessionStore for CachedSessions {
    async fn create(&self, session: &NewSession) -> Result<(), InfraError> {
        self.inner.create(session).await
    }

    async fn rotate(
        &self,
        user: UserId,
        session: SessionId,
        presented: &str,
        next: &str,
    ) -> Result<Rotation, InfraError> {
        let rotation = self.inner.rotate(user, session, presented, next).await?;
        if rotation == Rotation::Reused {
            self.state.forget(|k| *k == (user, session));
        }
        Ok(rotation)
    }

    async fn is_active(&self, user: UserId, session: SessionId) -> Result<bool, InfraError> {
        let key = (user, session);
        if self.state.fresh(&key) {
            return Ok(true);
        }
        let epoch = self.state.epoch.load(Ordering::Acquire);
        let active = self.inner.is_active(user, session).await?;
        if active {
            self.state.remember(key, epoch);
        }
        Ok(active)
    }

    async fn revoke(&self, user: UserId, session: SessionId) -> Result<(), InfraError> {
        // Dropped before and after: nothing read in between can be stored (the epoch moved).
        self.state.forget(|k| *k == (user, session));
        let revoked = self.inner.revoke(user, session).await;
        self.state.forget(|k| *k == (user, session));
        revoked
    }

    async fn revoke_all(&self, user: UserId) -> Result<(), InfraError> {
        self.state.forget(|(u, _)| *u == user);
        let revoked = self.inner.revoke_all(user).await;
        self.state.forget(|(u, _)| *u == user);
        revoked
    }
}
