//! Idempotency keys in Redis, shared by every instance. One hash per key, under the user's hash
//! tag so a user's keys live in one Redis Cluster slot:
//!
//! `idem:{<user id>}:<route>:<key>` → `fp` (request fingerprint), `state` (`running` | `done`),
//! `owner` (the attempt holding it while running), and once done `status`, `headers` (JSON
//! pairs) and `body` (the sealed body). While running it expires after the lock ttl (an
//! instance that dies mid-request frees the key by itself); once done, after the answer ttl.
//!
//! `begin` is one Lua script, so two instances racing with one key get exactly one `started`.

use crate::errors::redis_error;
use crate::pool::RedisPool;
use async_trait::async_trait;
use brokerage_domain::InfraError;
use brokerage_domain::idempotency::{
    AttemptId, Begin, Fingerprint, IdempotencyScope, IdempotencyStore, StoredResponse,
};
use redis::Script;
use std::time::Duration;

/// KEYS[1] record; ARGV fingerprint, attempt, lock ttl (ms).
/// Returns {outcome, status, headers, body}; only `replay` fills the last three.
const BEGIN: &str = r"
local rec = redis.call('HMGET', KEYS[1], 'fp', 'state', 'status', 'headers', 'body')
if not rec[1] then
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[1], 'fp', ARGV[1], 'state', 'running', 'owner', ARGV[2])
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  return {'started', 0, '', ''}
end
if rec[1] ~= ARGV[1] then return {'mismatch', 0, '', ''} end
if rec[2] == 'done' then return {'replay', tonumber(rec[3]), rec[4], rec[5]} end
return {'in_flight', 0, '', ''}
";

/// KEYS[1] record; ARGV attempt, status, headers, body, ttl (ms). 1 when stored.
const COMPLETE: &str = r"
local rec = redis.call('HMGET', KEYS[1], 'state', 'owner')
if rec[1] ~= 'running' or rec[2] ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'state', 'done', 'status', ARGV[2], 'headers', ARGV[3], 'body', ARGV[4])
redis.call('HDEL', KEYS[1], 'owner')
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return 1
";

/// KEYS[1] record; ARGV attempt. Deletes the record only while that attempt holds it.
const RELEASE: &str = r"
local rec = redis.call('HMGET', KEYS[1], 'state', 'owner')
if rec[1] == 'running' and rec[2] == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
";

#[derive(Clone)]
pub struct RedisIdempotency {
    pool: RedisPool,
}

impl RedisIdempotency {
    pub fn new(pool: RedisPool) -> Self {
        Self { pool }
    }

    async fn conn(&self) -> Result<bb8::PooledConnection<'_, crate::RedisManager>, InfraError> {
        self.pool.get().await.map_err(|e| InfraError::Unavailable(anyhow::anyhow!("redis pool: {e}")))
    }
}

fn record_key(scope: &IdempotencyScope) -> String {
    format!("idem:{{{}}}:{}:{}", scope.user().as_uuid().simple(), scope.route(), scope.key().as_str())
}

fn millis(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1)
}

fn attempt_arg(attempt: AttemptId) -> String {
    attempt.as_uuid().simple().to_string()
}

#[async_trait]
impl IdempotencyStore for RedisIdempotency {
    #[tracing::instrument(skip_all, fields(db.system = "redis", db.operation = "idempotency_begin"))]
    async fn begin(
        &self,
        scope: &IdempotencyScope,
        fingerprint: &Fingerprint,
        attempt: AttemptId,
        lock_ttl: Duration,
    ) -> Result<Begin, InfraError> {
        let mut conn = self.conn().await?;
        let (outcome, status, headers, body): (String, i64, String, Vec<u8>) = Script::new(BEGIN)
            .key(record_key(scope))
            .arg(fingerprint.to_hex())
            .arg(attempt_arg(attempt))
            .arg(millis(lock_ttl))
            .invoke_async(&mut *conn)
            .await
            .map_err(|e| redis_error(e, "begin idempotent request"))?;
        Ok(match outcome.as_str() {
            "started" => Begin::Started,
            "mismatch" => Begin::Mismatch,
            "in_flight" => Begin::InFlight,
            "replay" => {
                let status = u16::try_from(status).map_err(|_| {
                    InfraError::Unknown(anyhow::anyhow!("stored idempotent status {status} out of range"))
                })?;
                let headers: Vec<(String, String)> = serde_json::from_str(&headers)
                    .map_err(|e| InfraError::Unknown(anyhow::anyhow!("stored idempotent headers unreadable: {e}")))?;
                Begin::Replay(StoredResponse { status, headers, body })
            }
            other => return Err(InfraError::Unknown(anyhow::anyhow!("unexpected idempotency outcome {other:?}"))),
        })
    }

    #[tracing::instrument(skip_all, fields(db.system = "redis", db.operation = "idempotency_complete"))]
    async fn complete(
        &self,
        scope: &IdempotencyScope,
        attempt: AttemptId,
        response: &StoredResponse,
        ttl: Duration,
    ) -> Result<bool, InfraError> {
        let headers = serde_json::to_string(&response.headers)
            .map_err(|e| InfraError::Unknown(anyhow::anyhow!("idempotent headers: {e}")))?;
        let mut conn = self.conn().await?;
        let stored: i64 = Script::new(COMPLETE)
            .key(record_key(scope))
            .arg(attempt_arg(attempt))
            .arg(response.status)
            .arg(headers)
            .arg(response.body.as_slice())
            .arg(millis(ttl))
            .invoke_async(&mut *conn)
            .await
            .map_err(|e| redis_error(e, "complete idempotent request"))?;
        Ok(stored == 1)
    }

    #[tracing::instrument(skip_all, fields(db.system = "redis", db.operation = "idempotency_release"))]
    async fn release(&self, scope: &IdempotencyScope, attempt: AttemptId) -> Result<(), InfraError> {
        let mut conn = self.conn().await?;
        let _: i64 = Script::new(RELEASE)
            .key(record_key(scope))
            .arg(attempt_arg(attempt))
            .invoke_async(&mut *conn)
            .await
            .map_err(|e| redis_error(e, "release idempotency key"))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used)]
    use super::*;
    use brokerage_domain::UserId;
    use brokerage_domain::idempotency::IdempotencyKey;
    use uuid::Uuid;

    #[test]
    fn every_key_of_a_user_shares_the_users_hash_tag() {
        let user = UserId::from_uuid(Uuid::now_v7());
        let key = |route: &str, k: &str| {
            record_key(&IdempotencyScope::new(user, route, IdempotencyKey::parse(k).expect("valid")))
        };
        let tag = format!("idem:{{{}}}:", user.as_uuid().simple());
        let orders = key("POST /api/v1/orders", "{sneaky}");
        assert!(orders.starts_with(&tag), "the user's tag comes first, before any brace in the key: {orders}");
        assert!(key("POST /api/v1/account/deposits", "k").starts_with(&tag));
        assert_ne!(key("POST /api/v1/orders", "k"), key("POST /api/v1/account/deposits", "k"));
    }
}
