//! Runs against a real Redis: `REDIS_URL` must be set (`make test` provides one).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use brokerage_domain::HealthCheck;
use brokerage_redis::{RedisConfig, RedisHealth, RedisManager, connect};
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

#[tokio::test]
async fn redis_a_killed_connection_fails_one_command_and_is_replaced() {
    let url = std::env::var("REDIS_URL").expect("REDIS_URL must point at a Redis server (make test provides one)");
    let pool = bb8::Pool::builder()
        .max_size(1)
        .test_on_check_out(false)
        .build(RedisManager::new(&url).expect("valid url"))
        .await
        .expect("pool");
    let id: i64 = {
        let mut conn = pool.get().await.expect("conn");
        redis::cmd("CLIENT").arg("ID").query_async(&mut *conn).await.expect("client id")
    };
    // Another client kills the pooled connection, as a Redis restart or a proxy would.
    let killer = redis::Client::open(url.as_str()).expect("url");
    let mut killer = killer.get_multiplexed_async_connection().await.expect("killer");
    let killed: i64 = redis::cmd("CLIENT").arg("KILL").arg("ID").arg(id).query_async(&mut killer).await.expect("kill");
    assert_eq!(killed, 1);
    tokio::time::sleep(Duration::from_millis(50)).await;
    {
        let mut conn = pool.get().await.expect("the dead connection is still handed out once");
        let failed = redis::cmd("PING").query_async::<String>(&mut *conn).await;
        assert!(failed.is_err(), "the command on the killed connection fails");
    }
    let mut conn = pool.get().await.expect("a fresh connection");
    let pong: String = redis::cmd("PING").query_async(&mut *conn).await.expect("the replacement works");
    assert_eq!(pong, "PONG");
    let new_id: i64 = redis::cmd("CLIENT").arg("ID").query_async(&mut *conn).await.expect("client id");
    assert_ne!(new_id, id, "the broken connection was dropped, not reused");
}
