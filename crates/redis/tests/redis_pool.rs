//! Runs against a real Redis: `REDIS_URL` must be set (`make test` provides one).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use brokerage_domain::HealthCheck;
use brokerage_redis::{RedisConfig, RedisHealth, connect};
use std::time::Duration;

fn config(url: String) -> RedisConfig {
    RedisConfig { url, max_size: 4, connection_timeout: Duration::from_secs(2) }
}

#[tokio::test]
async fn redis_health_check_passes_on_a_live_server() {
    let url = std::env::var("REDIS_URL").expect("REDIS_URL must point at a Redis server (make test provides one)");
    let pool = connect(&config(url)).await.expect("redis reachable");
    assert_eq!(RedisHealth::new(pool).check().await, Ok(()));
}

#[tokio::test]
async fn redis_connect_fails_fast_on_a_dead_port() {
    let started = std::time::Instant::now();
    assert!(connect(&config("redis://127.0.0.1:1/".into())).await.is_err());
    assert!(started.elapsed() < Duration::from_secs(10));
}
