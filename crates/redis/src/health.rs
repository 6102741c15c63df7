use crate::pool::RedisPool;
use async_trait::async_trait;
use brokerage_domain::HealthCheck;

/// Readiness: Redis answers `PING`.
#[derive(Clone)]
pub struct RedisHealth {
    pool: RedisPool,
}

impl RedisHealth {
    pub fn new(pool: RedisPool) -> Self {
        Self { pool }
    }
}

#[async_trait]
impl HealthCheck for RedisHealth {
    fn name(&self) -> &'static str {
        "redis"
    }

    async fn check(&self) -> Result<(), String> {
        let mut conn = self.pool.get().await.map_err(|_| "no connection".to_owned())?;
        let pong: Result<String, _> = redis::cmd("PING").query_async(&mut *conn).await;
        pong.map(|_| ()).map_err(|e| format!("ping failed: {}", e.category()))
    }
}
