//! Idempotency keys on a real Redis (`REDIS_URL`; `make test` provides one). Every test uses
//! a fresh user id, so tests never share keys.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use brokerage_domain::idempotency::{
    AttemptId, Begin, Fingerprint, IdempotencyKey, IdempotencyScope, IdempotencyStore, StoredResponse,
};
use brokerage_domain::{InfraError, UserId};
use brokerage_redis::{RedisConfig, RedisIdempotency, connect};
use std::time::Duration;
use uuid::Uuid;

const LOCK: Duration = Duration::from_secs(60);
const TTL: Duration = Duration::from_secs(24 * 3600);
const FP: Fingerprint = Fingerprint::from_sha256([1; 32]);
const OTHER: Fingerprint = Fingerprint::from_sha256([2; 32]);

async fn store() -> RedisIdempotency {
    let url = std::env::var("REDIS_URL").expect("REDIS_URL must point at a Redis server (make test provides one)");
    let pool =
        connect(&RedisConfig { url, max_size: 8, connection_timeout: Duration::from_secs(2) }).await.expect("redis");
    RedisIdempotency::new(pool)
}

fn scope(route: &str, key: &str) -> IdempotencyScope {
    IdempotencyScope::new(UserId::from_uuid(Uuid::now_v7()), route, IdempotencyKey::parse(key).unwrap())
}

fn attempt() -> AttemptId {
    AttemptId::from_uuid(Uuid::now_v7())
}

/// A body that is not UTF-8, to show it comes back byte for byte.
fn answer() -> StoredResponse {
    StoredResponse {
        status: 201,
        headers: vec![("content-type".into(), "application/json".into()), ("location".into(), "/x".into())],
        body: vec![b'{', 0, 0xff, 0xfe, b'}', b'\n'],
    }
}

#[tokio::test]
async fn redis_first_answer_is_replayed_byte_for_byte_and_other_bodies_mismatch() {
    let s = store().await;
    let scope = scope("POST /api/v1/orders", "k-1");
    let first = attempt();
    assert_eq!(s.begin(&scope, &FP, first, LOCK).await.unwrap(), Begin::Started);
    assert_eq!(s.begin(&scope, &FP, attempt(), LOCK).await.unwrap(), Begin::InFlight);
    assert_eq!(s.begin(&scope, &OTHER, attempt(), LOCK).await.unwrap(), Begin::Mismatch);
    assert!(!s.complete(&scope, attempt(), &answer(), TTL).await.unwrap(), "only the holder completes");
    assert!(s.complete(&scope, first, &answer(), TTL).await.unwrap());
    assert!(!s.complete(&scope, first, &answer(), TTL).await.unwrap(), "completed once");
    assert_eq!(s.begin(&scope, &FP, attempt(), LOCK).await.unwrap(), Begin::Replay(answer()));
    assert_eq!(s.begin(&scope, &OTHER, attempt(), LOCK).await.unwrap(), Begin::Mismatch);
    s.release(&scope, first).await.unwrap();
    assert_eq!(
        s.begin(&scope, &FP, attempt(), LOCK).await.unwrap(),
        Begin::Replay(answer()),
        "answers are never released"
    );

    let other_user = IdempotencyScope::new(UserId::from_uuid(Uuid::now_v7()), scope.route(), scope.key().clone());
    assert_eq!(s.begin(&other_user, &OTHER, attempt(), LOCK).await.unwrap(), Begin::Started, "keys are per user");
    let other_route = IdempotencyScope::new(scope.user(), "POST /api/v1/account/deposits", scope.key().clone());
    assert_eq!(s.begin(&other_route, &OTHER, attempt(), LOCK).await.unwrap(), Begin::Started, "and per route");
}

#[tokio::test]
async fn redis_release_frees_only_the_holders_key() {
    let s = store().await;
    let scope = scope("POST /api/v1/account/deposits", "dep-1");
    let first = attempt();
    assert_eq!(s.begin(&scope, &FP, first, LOCK).await.unwrap(), Begin::Started);
    s.release(&scope, attempt()).await.unwrap();
    assert_eq!(s.begin(&scope, &FP, attempt(), LOCK).await.unwrap(), Begin::InFlight, "a stranger cannot free it");
    s.release(&scope, first).await.unwrap();
    assert_eq!(s.begin(&scope, &OTHER, attempt(), LOCK).await.unwrap(), Begin::Started, "released: free for any body");
}

#[tokio::test]
async fn redis_twenty_concurrent_begins_with_one_key_start_exactly_once() {
    let s = store().await;
    let scope = scope("POST /api/v1/orders", "race");
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let (s, scope) = (s.clone(), scope.clone());
        tasks.spawn(async move { s.begin(&scope, &FP, attempt(), LOCK).await.unwrap() });
    }
    let (mut started, mut in_flight) = (0, 0);
    while let Some(outcome) = tasks.join_next().await {
        match outcome.unwrap() {
            Begin::Started => started += 1,
            Begin::InFlight => in_flight += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((started, in_flight), (1, 19));
}

#[tokio::test]
async fn redis_an_abandoned_lock_expires_by_itself() {
    let s = store().await;
    let scope = scope("POST /api/v1/orders", "dies-mid-request");
    let lock = Duration::from_millis(300);
    let dead = attempt();
    assert_eq!(s.begin(&scope, &FP, dead, lock).await.unwrap(), Begin::Started);
    assert_eq!(s.begin(&scope, &FP, attempt(), lock).await.unwrap(), Begin::InFlight);
    tokio::time::sleep(lock + Duration::from_millis(200)).await;
    let retry = attempt();
    assert_eq!(
        s.begin(&scope, &FP, retry, lock).await.unwrap(),
        Begin::Started,
        "the instance died: the key freed itself"
    );
    assert!(!s.complete(&scope, dead, &answer(), TTL).await.unwrap(), "the late first attempt stores nothing");
    s.release(&scope, dead).await.unwrap();
    assert!(s.complete(&scope, retry, &answer(), TTL).await.unwrap(), "nor frees the retry's key");
    assert_eq!(s.begin(&scope, &FP, attempt(), lock).await.unwrap(), Begin::Replay(answer()));
}

#[tokio::test]
async fn redis_answers_expire_after_their_ttl() {
    let s = store().await;
    let scope = scope("POST /api/v1/orders", "short-lived");
    let first = attempt();
    assert_eq!(s.begin(&scope, &FP, first, LOCK).await.unwrap(), Begin::Started);
    assert!(s.complete(&scope, first, &answer(), Duration::from_millis(300)).await.unwrap());
    assert_eq!(s.begin(&scope, &FP, attempt(), LOCK).await.unwrap(), Begin::Replay(answer()));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(s.begin(&scope, &OTHER, attempt(), LOCK).await.unwrap(), Begin::Started);
}

#[tokio::test]
async fn redis_an_unreachable_redis_is_unavailable() {
    let manager = brokerage_redis::RedisManager::new("redis://127.0.0.1:1/").expect("valid url");
    let pool = bb8::Pool::builder().connection_timeout(Duration::from_millis(200)).build_unchecked(manager);
    let err =
        RedisIdempotency::new(pool).begin(&scope("POST /x", "k"), &FP, attempt(), LOCK).await.expect_err("no Redis");
    assert!(matches!(err, InfraError::Unavailable(_)), "{err:?}");
}
