//! The shared [`RateLimiter`]: fixed windows counted in Redis, so every instance spends one
//! budget. One Lua script increments the counter, opens the window on the first hit
//! (`PEXPIRE`) and reads what is left of it (`PTTL`) in a single atomic step; a counter can
//! never be left without an expiry.

use crate::pool::RedisPool;
use async_trait::async_trait;
use brokerage_domain::InfraError;
use brokerage_domain::limits::{Decision, RateLimiter};
use std::sync::Arc;
use std::time::Duration;

const SCRIPT: &str = r"
local count = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if count == 1 or ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {count, ttl}
";

/// Counters live under `<prefix><key>`; the default prefix is `ratelimit:`.
#[derive(Clone)]
pub struct RedisRateLimiter {
    pool: RedisPool,
    prefix: String,
    script: Arc<redis::Script>,
}

impl RedisRateLimiter {
    pub fn new(pool: RedisPool) -> Self {
        Self::with_prefix(pool, "ratelimit:")
    }

    /// A limiter whose keys start with `prefix` (tests use a unique one).
    pub fn with_prefix(pool: RedisPool, prefix: impl Into<String>) -> Self {
        Self { pool, prefix: prefix.into(), script: Arc::new(redis::Script::new(SCRIPT)) }
    }
}

#[async_trait]
impl RateLimiter for RedisRateLimiter {
    #[tracing::instrument(skip_all, fields(db.system = "redis", db.operation = "rate_limit.check"))]
    async fn check(&self, key: &str, limit: u32, window: Duration) -> Result<Decision, InfraError> {
        let window_ms = u64::try_from(window.as_millis()).unwrap_or(u64::MAX).max(1);
        let mut conn =
            self.pool.get().await.map_err(|e| {
                InfraError::Unavailable(anyhow::anyhow!("no Redis connection for the rate limiter: {e}"))
            })?;
        let (count, ttl_ms): (u64, i64) = self
            .script
            .key(format!("{}{key}", self.prefix))
            .arg(window_ms)
            .invoke_async(&mut *conn)
            .await
            .map_err(|e| InfraError::Unavailable(anyhow::anyhow!("rate-limit script failed: {}", e.category())))?;
        let reset_after = Duration::from_millis(u64::try_from(ttl_ms).unwrap_or(window_ms));
        Ok(Decision::from_count(count, limit, reset_after))
    }
}
