use crate::pool::RedisPool;
use async_trait::async_trait;
use brokerage_domain::HealthCheck;
use std::time::Duration;

/// A readiness probe must answer fast even when Redis hangs (docs/operations.md: "every
/// dependency answers within 2 s"); the pool's own wait may be configured longer.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

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
        let probe = async {
            let mut conn = self.pool.get().await.map_err(|_| "no connection".to_owned())?;
            let pong: Result<String, _> = redis::cmd("PING").query_async(&mut *conn).await;
            pong.map(|_| ()).map_err(|e| format!("ping failed: {}", e.category()))
        };
        tokio::time::timeout(CHECK_TIMEOUT, probe).await.unwrap_or_else(|_| Err("timed out".to_owned()))
    }
}
