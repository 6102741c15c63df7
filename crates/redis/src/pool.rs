//! The Redis connection pool: bb8 with bb8-redis's connection manager, wrapped.
//!
//! bb8-redis validates every check-out with a `PING`: one extra round trip per Redis
//! command we send (half of all Redis traffic in `docs/benchmarks.md`). This manager skips
//! that check and instead remembers, per connection, whether a command failed in a way that
//! leaves the connection unusable (I/O error, dropped connection, timeout); bb8 then drops
//! such a connection when it is returned instead of handing it out again. After a Redis
//! restart each pooled connection therefore fails one command (503) and is replaced — the
//! same trade the PostgreSQL pool makes (`docs/reliability.md`).

use bb8::ManageConnection;
use bb8_redis::RedisConnectionManager;
use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::{Cmd, Pipeline, RedisError, RedisFuture, Value};
use std::time::Duration;

pub type RedisPool = bb8::Pool<RedisManager>;

#[derive(Debug, Clone)]
pub struct RedisConfig {
    pub url: String,
    pub max_size: u32,
    pub connection_timeout: Duration,
}

/// bb8-redis's manager (it opens the connections) plus broken-connection tracking; see the
/// module comment.
#[derive(Clone, Debug)]
pub struct RedisManager {
    opener: RedisConnectionManager,
}

impl RedisManager {
    pub fn new(url: &str) -> Result<Self, RedisError> {
        Ok(Self { opener: RedisConnectionManager::new(url)? })
    }
}

/// A pooled connection that notices when it has broken.
pub struct TrackedConnection {
    inner: MultiplexedConnection,
    broken: bool,
}

impl TrackedConnection {
    fn note<T>(&mut self, result: Result<T, RedisError>) -> Result<T, RedisError> {
        if let Err(e) = &result
            && (e.is_io_error() || e.is_connection_dropped() || e.is_timeout() || e.is_unrecoverable_error())
        {
            self.broken = true;
        }
        result
    }
}

impl ConnectionLike for TrackedConnection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(async move {
            let result = self.inner.req_packed_command(cmd).await;
            self.note(result)
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        Box::pin(async move {
            let result = self.inner.req_packed_commands(pipeline, offset, count).await;
            self.note(result)
        })
    }

    fn get_db(&self) -> i64 {
        self.inner.get_db()
    }
}

impl ManageConnection for RedisManager {
    type Connection = TrackedConnection;
    type Error = RedisError;

    async fn connect(&self) -> Result<Self::Connection, Self::Error> {
        let inner = self.opener.connect().await?;
        Ok(TrackedConnection { inner, broken: false })
    }

    /// Only used where a check-out test is asked for (never by [`connect`]'s pool).
    async fn is_valid(&self, conn: &mut Self::Connection) -> Result<(), Self::Error> {
        self.opener.is_valid(&mut conn.inner).await
    }

    fn has_broken(&self, conn: &mut Self::Connection) -> bool {
        conn.broken
    }
}

/// Builds the pool and checks that Redis answers, so a wrong URL fails at start-up.
pub async fn connect(config: &RedisConfig) -> anyhow::Result<RedisPool> {
    let manager =
        RedisManager::new(config.url.as_str()).map_err(|e| anyhow::anyhow!("invalid REDIS_URL: {}", e.category()))?;
    let pool = bb8::Pool::builder()
        .max_size(config.max_size)
        .connection_timeout(config.connection_timeout)
        .test_on_check_out(false)
        .build(manager)
        .await?;
    let mut conn = pool.get().await.map_err(|e| anyhow::anyhow!("cannot connect to Redis: {e}"))?;
    let _: String = redis::cmd("PING").query_async(&mut *conn).await?;
    drop(conn);
    Ok(pool)
}
