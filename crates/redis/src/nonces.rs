use crate::pool::RedisPool;
use async_trait::async_trait;
use brokerage_domain::InfraError;
use brokerage_domain::api_keys::NonceStore;

/// Nonces in Redis (`SET NX EX`), so a replay is caught whichever instance it reaches.
#[derive(Clone)]
pub struct RedisNonces {
    pool: RedisPool,
}

impl RedisNonces {
    pub fn new(pool: RedisPool) -> Self {
        Self { pool }
    }
}

#[async_trait]
impl NonceStore for RedisNonces {
    #[tracing::instrument(skip_all, fields(db.system = "redis", db.operation = "nonce"))]
    async fn first_use(&self, nonce: &str, ttl_seconds: u64) -> Result<bool, InfraError> {
        let mut conn =
            self.pool.get().await.map_err(|e| InfraError::Unavailable(anyhow::anyhow!("redis pool: {e}")))?;
        let set: Option<String> = redis::cmd("SET")
            .arg(format!("nonce:{nonce}"))
            .arg(1)
            .arg("NX")
            .arg("EX")
            .arg(ttl_seconds.max(1))
            .query_async(&mut *conn)
            .await
            .map_err(|e| InfraError::Unavailable(anyhow::anyhow!("redis nonce: {e}")))?;
        Ok(set.is_some())
    }
}
