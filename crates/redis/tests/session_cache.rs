//! The in-process session cache on a real Redis (`REDIS_URL`; `make test` provides one): two
//! caches stand for two instances of the server sharing one Redis.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use brokerage_domain::users::{NewSession, Rotation, SessionStore};
use brokerage_domain::{SessionId, UserId};
use brokerage_redis::{CachedSessions, RedisConfig, RedisSessions, connect};
use chrono::Utc;
use std::time::{Duration, Instant};
use uuid::Uuid;

fn url() -> String {
    std::env::var("REDIS_URL").expect("REDIS_URL must point at a Redis server (make test provides one)")
}

/// One "instance": a pool, the Redis store and its cache, listening.
async fn instance(ttl: Duration) -> CachedSessions {
    let pool = connect(&RedisConfig { url: url(), max_size: 4, connection_timeout: Duration::from_secs(2) })
        .await
        .expect("redis");
    let cache = CachedSessions::new(RedisSessions::new(pool), ttl);
    cache.spawn_listener(&url()).expect("valid url");
    let started = Instant::now();
    while !cache.is_listening() {
        assert!(started.elapsed() < Duration::from_secs(5), "the revocation subscription never came up");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    cache
}

async fn new_session(store: &CachedSessions, user: UserId, digest: &str) -> SessionId {
    let id = SessionId::from_uuid(Uuid::now_v7());
    let new = NewSession {
        id,
        user_id: user,
        refresh_digest: digest.into(),
        expires_at: Utc::now() + chrono::Duration::days(1),
    };
    store.create(&new).await.unwrap();
    id
}

/// Deletes a session's key behind every cache's back (no revocation message), so a `true`
/// afterwards can only come from the cache.
async fn delete_silently(user: UserId, session: SessionId) {
    let client = redis::Client::open(url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let key = format!("sess:{{{}}}:{}", user.as_uuid().simple(), session.as_uuid().simple());
    let deleted: i64 = redis::cmd("DEL").arg(key).query_async(&mut conn).await.unwrap();
    assert_eq!(deleted, 1, "the session key layout changed: update this test");
}

/// Polls briefly: a revocation crosses instances by pub/sub, in well under a second.
async fn ends_soon(store: &CachedSessions, user: UserId, session: SessionId) -> Duration {
    let started = Instant::now();
    while store.is_active(user, session).await.unwrap() {
        assert!(started.elapsed() < Duration::from_secs(2), "the other instance still trusts a revoked session");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    started.elapsed()
}

#[tokio::test]
async fn redis_session_cache_answers_from_memory_until_its_ttl() {
    let a = instance(Duration::from_millis(1_000)).await;
    let user = UserId::from_uuid(Uuid::now_v7());
    let s = new_session(&a, user, "d1").await;
    assert!(a.is_active(user, s).await.unwrap());
    delete_silently(user, s).await;
    assert!(a.is_active(user, s).await.unwrap(), "confirmed a moment ago: answered from memory");
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    assert!(!a.is_active(user, s).await.unwrap(), "past the ttl Redis is asked again");
    assert!(!a.is_active(user, s).await.unwrap(), "a dead session is never cached");
}

#[tokio::test]
async fn redis_a_logout_on_one_instance_ends_the_session_on_the_other() {
    let (a, b) = (instance(Duration::from_secs(60)).await, instance(Duration::from_secs(60)).await);
    let user = UserId::from_uuid(Uuid::now_v7());
    let (s1, s2) = (new_session(&a, user, "d1").await, new_session(&a, user, "d2").await);
    assert!(b.is_active(user, s1).await.unwrap() && b.is_active(user, s2).await.unwrap(), "cached on b");
    a.revoke(user, s1).await.unwrap();
    assert!(!a.is_active(user, s1).await.unwrap(), "at once on the instance that revoked");
    let took = ends_soon(&b, user, s1).await;
    assert!(b.is_active(user, s2).await.unwrap(), "the user's other session lives on");
    assert!(took < Duration::from_millis(1_500), "took {took:?}");
}

#[tokio::test]
async fn redis_revoke_all_and_refresh_reuse_reach_every_instance() {
    let (a, b) = (instance(Duration::from_secs(60)).await, instance(Duration::from_secs(60)).await);
    let (ann, bob) = (UserId::from_uuid(Uuid::now_v7()), UserId::from_uuid(Uuid::now_v7()));
    let (a1, a2, b1) =
        (new_session(&a, ann, "a1").await, new_session(&a, ann, "a2").await, new_session(&a, bob, "b1").await);
    for (u, s) in [(ann, a1), (ann, a2), (bob, b1)] {
        assert!(b.is_active(u, s).await.unwrap());
    }
    a.revoke_all(ann).await.unwrap();
    ends_soon(&b, ann, a1).await;
    ends_soon(&b, ann, a2).await;
    assert!(b.is_active(bob, b1).await.unwrap(), "another user is untouched");

    // A spent refresh token presented again kills the session everywhere.
    assert_eq!(a.rotate(bob, b1, "b1", "b1-next").await.unwrap(), Rotation::Rotated);
    assert!(b.is_active(bob, b1).await.unwrap());
    assert_eq!(a.rotate(bob, b1, "b1", "b1-again").await.unwrap(), Rotation::Reused);
    ends_soon(&b, bob, b1).await;
}
