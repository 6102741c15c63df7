use bb8_redis::RedisConnectionManager;
use std::time::Duration;

pub type RedisPool = bb8::Pool<RedisConnectionManager>;

#[derive(Debug, Clone)]
pub struct RedisConfig {
    pub url: String,
    pub max_size: u32,
    pub connection_timeout: Duration,
}

/// Builds the pool and checks that Redis answers, so a wrong URL fails at start-up.
pub async fn connect(config: &RedisConfig) -> anyhow::Result<RedisPool> {
    let manager = RedisConnectionManager::new(config.url.as_str())
        .map_err(|e| anyhow::anyhow!("invalid REDIS_URL: {}", e.category()))?;
    let pool = bb8::Pool::builder()
        .max_size(config.max_size)
        .connection_timeout(config.connection_timeout)
        .build(manager)
        .await?;
    let mut conn = pool.get().await.map_err(|e| anyhow::anyhow!("cannot connect to Redis: {e}"))?;
    let _: String = redis::cmd("PING").query_async(&mut *conn).await?;
    drop(conn);
    Ok(pool)
}
