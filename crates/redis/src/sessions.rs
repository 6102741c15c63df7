//! Login sessions in Redis, shared by every instance. All keys of one user share the hash tag
//! `{<user id>}`, so each script touches one Redis Cluster slot.
//!
//! - `sess:{u}:<sid>`: hash with the current refresh digest; expires at the session's absolute end
//! - `sess:{u}:<sid>:spent`: set of refresh digests already used (to detect reuse)
//! - `sess:{u}`: set of the user's session ids (to end them all)
//!
//! Every revocation is also published on [`REVOCATIONS`], in the same atomic step, for the
//! in-process session caches of every instance (`session_cache.rs`).

use crate::errors::redis_error;
use crate::pool::RedisPool;
use async_trait::async_trait;
use brokerage_domain::users::{NewSession, Rotation, SessionStore};
use brokerage_domain::{InfraError, SessionId, UserId};
use redis::Script;

const CREATE: &str = r"
redis.call('HSET', KEYS[1], 'current', ARGV[1])
redis.call('PEXPIREAT', KEYS[1], ARGV[2])
redis.call('SADD', KEYS[2], ARGV[3])
if redis.call('PEXPIRETIME', KEYS[2]) < tonumber(ARGV[2]) then redis.call('PEXPIREAT', KEYS[2], ARGV[2]) end
return 1
";

const ROTATE: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then return 'unknown' end
if redis.call('HGET', KEYS[1], 'current') == ARGV[1] then
  redis.call('HSET', KEYS[1], 'current', ARGV[2])
  redis.call('SADD', KEYS[2], ARGV[1])
  redis.call('PEXPIREAT', KEYS[2], redis.call('PEXPIRETIME', KEYS[1]))
  return 'rotated'
end
if redis.call('SISMEMBER', KEYS[2], ARGV[1]) == 1 then
  redis.call('DEL', KEYS[1], KEYS[2])
  redis.call('SREM', KEYS[3], ARGV[3])
  redis.call('PUBLISH', ARGV[4], ARGV[5])
  return 'reused'
end
return 'unknown'
";

const REVOKE_ALL: &str = r"
local prefix = ARGV[1]
for _, sid in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  redis.call('DEL', prefix .. sid, prefix .. sid .. ':spent')
end
redis.call('DEL', KEYS[1])
redis.call('PUBLISH', ARGV[2], ARGV[3])
return 1
";

/// The pub/sub channel of revocations: messages are `<user>` (every session of the user) or
/// `<user>:<session>` (ids in simple form).
pub const REVOCATIONS: &str = "sess:revoked";

/// The revocation message for one session.
pub(crate) fn revoked_session(user: UserId, session: SessionId) -> String {
    format!("{}:{}", user.as_uuid().simple(), session.as_uuid().simple())
}

#[derive(Clone)]
pub struct RedisSessions {
    pool: RedisPool,
}

impl RedisSessions {
    pub fn new(pool: RedisPool) -> Self {
        Self { pool }
    }

    async fn conn(&self) -> Result<bb8::PooledConnection<'_, crate::RedisManager>, InfraError> {
        self.pool.get().await.map_err(|e| InfraError::Unavailable(anyhow::anyhow!("redis pool: {e}")))
    }
}

fn user_tag(user: UserId) -> String {
    format!("sess:{{{}}}", user.as_uuid().simple())
}

fn session_key(user: UserId, session: SessionId) -> String {
    format!("{}:{}", user_tag(user), session.as_uuid().simple())
}

#[async_trait]
impl SessionStore for RedisSessions {
    #[tracing::instrument(skip_all, fields(db.system = "redis", db.operation = "session_create"))]
    async fn create(&self, session: &NewSession) -> Result<(), InfraError> {
        let key = session_key(session.user_id, session.id);
        let mut conn = self.conn().await?;
        let _: i64 = Script::new(CREATE)
            .key(&key)
            .key(user_tag(session.user_id))
            .arg(&session.refresh_digest)
            .arg(session.expires_at.timestamp_millis())
            .arg(session.id.as_uuid().simple().to_string())
            .invoke_async(&mut *conn)
            .await
            .map_err(|e| redis_error(e, "create session"))?;
        Ok(())
    }

    #[tracing::instrument(skip_all, fields(db.system = "redis", db.operation = "session_rotate"))]
    async fn rotate(
        &self,
        user: UserId,
        session: SessionId,
        presented: &str,
        next: &str,
    ) -> Result<Rotation, InfraError> {
        let key = session_key(user, session);
        let mut conn = self.conn().await?;
        let outcome: String = Script::new(ROTATE)
            .key(&key)
            .key(format!("{key}:spent"))
            .key(user_tag(user))
            .arg(presented)
            .arg(next)
            .arg(session.as_uuid().simple().to_string())
            .arg(REVOCATIONS)
            .arg(revoked_session(user, session))
            .invoke_async(&mut *conn)
            .await
            .map_err(|e| redis_error(e, "rotate session"))?;
        Ok(match outcome.as_str() {
            "rotated" => Rotation::Rotated,
            "reused" => Rotation::Reused,
            _ => Rotation::Unknown,
        })
    }

    #[tracing::instrument(skip_all, fields(db.system = "redis", db.operation = "session_check"))]
    async fn is_active(&self, user: UserId, session: SessionId) -> Result<bool, InfraError> {
        let mut conn = self.conn().await?;
        redis::cmd("EXISTS")
            .arg(session_key(user, session))
            .query_async(&mut *conn)
            .await
            .map_err(|e| redis_error(e, "check session"))
    }

    #[tracing::instrument(skip_all, fields(db.system = "redis", db.operation = "session_revoke"))]
    async fn revoke(&self, user: UserId, session: SessionId) -> Result<(), InfraError> {
        let key = session_key(user, session);
        let mut conn = self.conn().await?;
        let _: () = redis::pipe()
            .atomic()
            .del(&[key.clone(), format!("{key}:spent")])
            .ignore()
            .srem(user_tag(user), session.as_uuid().simple().to_string())
            .ignore()
            .publish(REVOCATIONS, revoked_session(user, session))
            .ignore()
            .query_async(&mut *conn)
            .await
            .map_err(|e| redis_error(e, "revoke session"))?;
        Ok(())
    }

    #[tracing::instrument(skip_all, fields(db.system = "redis", db.operation = "session_revoke_all"))]
    async fn revoke_all(&self, user: UserId) -> Result<(), InfraError> {
        let tag = user_tag(user);
        let mut conn = self.conn().await?;
        let _: i64 = Script::new(REVOKE_ALL)
            .key(&tag)
            .arg(format!("{tag}:"))
            .arg(REVOCATIONS)
            .arg(user.as_uuid().simple().to_string())
            .invoke_async(&mut *conn)
            .await
            .map_err(|e| redis_error(e, "revoke sessions"))?;
        Ok(())
    }
}
