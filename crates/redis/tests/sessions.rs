//! Session rules on a real Redis (`REDIS_URL`; `make test` provides one).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use brokerage_domain::users::{NewSession, Rotation, SessionStore};
use brokerage_domain::{SessionId, UserId};
use brokerage_redis::{RedisConfig, RedisSessions, connect};
use chrono::{Duration, Utc};
use uuid::Uuid;

async fn store() -> RedisSessions {
    let url = std::env::var("REDIS_URL").expect("REDIS_URL must point at a Redis server (make test provides one)");
    let pool = connect(&RedisConfig { url, max_size: 4, connection_timeout: std::time::Duration::from_secs(2) })
        .await
        .expect("redis");
    RedisSessions::new(pool)
}

fn session(user: UserId, digest: &str, ttl: Duration) -> NewSession {
    NewSession {
        id: SessionId::from_uuid(Uuid::now_v7()),
        user_id: user,
        refresh_digest: digest.into(),
        expires_at: Utc::now() + ttl,
    }
}

#[tokio::test]
async fn redis_refresh_rotation_spends_tokens_and_reuse_kills_the_family() {
    let s = store().await;
    let user = UserId::from_uuid(Uuid::now_v7());
    let new = session(user, "d1", Duration::days(7));
    s.create(&new).await.unwrap();
    assert!(s.is_active(user, new.id).await.unwrap());
    assert_eq!(s.rotate(user, new.id, "d1", "d2").await.unwrap(), Rotation::Rotated);
    assert_eq!(
        s.rotate(user, new.id, "nonsense", "d3").await.unwrap(),
        Rotation::Unknown,
        "a forged digest changes nothing"
    );
    assert!(s.is_active(user, new.id).await.unwrap());
    assert_eq!(s.rotate(user, new.id, "d1", "d3").await.unwrap(), Rotation::Reused, "d1 was spent");
    assert!(!s.is_active(user, new.id).await.unwrap(), "the whole session is gone");
    assert_eq!(s.rotate(user, new.id, "d2", "d4").await.unwrap(), Rotation::Unknown, "the newest token died too");
}

#[tokio::test]
async fn redis_concurrent_refreshes_of_one_token_rotate_once() {
    let s = store().await;
    let user = UserId::from_uuid(Uuid::now_v7());
    let new = session(user, "d1", Duration::days(7));
    s.create(&new).await.unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..20 {
        let s = s.clone();
        tasks.spawn(async move { s.rotate(user, new.id, "d1", &format!("next{i}")).await.unwrap() });
    }
    let mut rotated = 0;
    while let Some(r) = tasks.join_next().await {
        if r.unwrap() == Rotation::Rotated {
            rotated += 1;
        }
    }
    assert_eq!(rotated, 1);
}

#[tokio::test]
async fn redis_revoke_all_ends_every_session_of_the_user_only() {
    let s = store().await;
    let (ann, bob) = (UserId::from_uuid(Uuid::now_v7()), UserId::from_uuid(Uuid::now_v7()));
    let (a1, a2, b1) = (
        session(ann, "a1", Duration::days(7)),
        session(ann, "a2", Duration::days(7)),
        session(bob, "b1", Duration::days(7)),
    );
    for x in [&a1, &a2, &b1] {
        s.create(x).await.unwrap();
    }
    s.revoke_all(ann).await.unwrap();
    assert!(!s.is_active(ann, a1.id).await.unwrap() && !s.is_active(ann, a2.id).await.unwrap());
    assert!(s.is_active(bob, b1.id).await.unwrap());
    s.revoke(bob, b1.id).await.unwrap();
    assert!(!s.is_active(bob, b1.id).await.unwrap());
}

#[tokio::test]
async fn redis_sessions_end_at_their_absolute_expiry() {
    let s = store().await;
    let user = UserId::from_uuid(Uuid::now_v7());
    let short = session(user, "d1", Duration::milliseconds(300));
    s.create(&short).await.unwrap();
    assert!(s.is_active(user, short.id).await.unwrap());
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    assert!(!s.is_active(user, short.id).await.unwrap());
    assert_eq!(s.rotate(user, short.id, "d1", "d2").await.unwrap(), Rotation::Unknown);
}
