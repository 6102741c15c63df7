//! The Redis rate limiter against a real Redis: `REDIS_URL` must be set (`make test`
//! provides one). Every test uses its own key prefix.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use brokerage_domain::InfraError;
use brokerage_domain::limits::RateLimiter;
use brokerage_redis::{RedisConfig, RedisRateLimiter, connect};
use std::sync::Arc;
use std::time::Duration;

async fn limiter() -> RedisRateLimiter {
    let url = std::env::var("REDIS_URL").expect("REDIS_URL must point at a Redis server (make test provides one)");
    let pool = connect(&RedisConfig { url, max_size: 8, connection_timeout: Duration::from_secs(2) })
        .await
        .expect("redis reachable");
    RedisRateLimiter::with_prefix(pool, format!("test:{}:", uuid::Uuid::now_v7()))
}

#[tokio::test]
async fn allows_the_limit_then_refuses_until_the_window_ends() {
    let limiter = limiter().await;
    let window = Duration::from_millis(800);
    for remaining in [2, 1, 0] {
        let d = limiter.check("k", 3, window).await.expect("counted");
        assert!(d.allowed);
        assert_eq!((d.limit, d.remaining), (3, remaining));
        assert!(d.reset_after <= window && d.reset_after > Duration::ZERO, "{d:?}");
    }
    let refused = limiter.check("k", 3, window).await.expect("counted");
    assert!(!refused.allowed);
    assert_eq!(refused.remaining, 0);
    assert!(limiter.check("other", 3, window).await.expect("counted").allowed, "keys are independent");

    tokio::time::sleep(refused.reset_after + Duration::from_millis(50)).await;
    let fresh = limiter.check("k", 3, window).await.expect("counted");
    assert!(fresh.allowed, "a new window starts after the old one expired");
    assert_eq!(fresh.remaining, 2);
}

#[tokio::test]
async fn concurrent_checks_never_let_more_than_the_limit_through() {
    let limiter = Arc::new(limiter().await);
    let checks = (0..40).map(|_| {
        let limiter = limiter.clone();
        tokio::spawn(async move { limiter.check("burst", 7, Duration::from_secs(30)).await.expect("counted").allowed })
    });
    let mut allowed = 0;
    for check in checks {
        allowed += usize::from(check.await.expect("joined"));
    }
    assert_eq!(allowed, 7);
}

#[tokio::test]
async fn an_unreachable_redis_is_unavailable_not_a_panic() {
    let manager = brokerage_redis::RedisManager::new("redis://127.0.0.1:1/").expect("valid url");
    let pool = bb8::Pool::builder().connection_timeout(Duration::from_millis(200)).build_unchecked(manager);
    let limiter = RedisRateLimiter::new(pool);
    let err = limiter.check("k", 1, Duration::from_secs(1)).await.expect_err("no Redis");
    assert!(matches!(err, InfraError::Unavailable(_)), "{err:?}");
}
