//! The connection pool: bb8 over diesel-async's `AsyncPgConnection` (tokio-postgres, no libpq).

use crate::database_url::redact;
use anyhow::Context as _;
use diesel_async::AsyncPgConnection;
use diesel_async::pooled_connection::{AsyncDieselConnectionManager, PoolError};
use std::fmt;
use std::time::Duration;

/// A pool of Postgres connections.
pub type PgPool = diesel_async::pooled_connection::bb8::Pool<AsyncPgConnection>;

/// How to reach Postgres and how many connections to keep.
#[derive(Clone)]
pub struct PoolConfig {
    /// `postgres://user:password@host:port/database`; never logged with its password.
    pub url: String,
    /// At most this many connections (≥ 1).
    pub max_size: u32,
    /// Connections kept open while idle (≤ `max_size`); `None` opens them on demand.
    pub min_idle: Option<u32>,
    /// How long a caller waits for a connection before the store answers `Unavailable`.
    pub connection_timeout: Duration,
}

impl fmt::Debug for PoolConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolConfig")
            .field("url", &redact(&self.url))
            .field("max_size", &self.max_size)
            .field("min_idle", &self.min_idle)
            .field("connection_timeout", &self.connection_timeout)
            .finish()
    }
}

/// Builds the pool and checks that one connection can be opened, so that a wrong URL or a
/// down database stops start-up with a clear message instead of failing the first request.
pub async fn connect(config: &PoolConfig) -> anyhow::Result<PgPool> {
    // bb8 asserts these; refuse them as errors instead of panicking.
    anyhow::ensure!(config.max_size > 0, "database pool max_size must be at least 1");
    anyhow::ensure!(
        config.min_idle.is_none_or(|m| m <= config.max_size),
        "database pool min_idle must not exceed max_size"
    );
    anyhow::ensure!(!config.connection_timeout.is_zero(), "database connection_timeout must be positive");

    let target = redact(&config.url);
    let pool = PgPool::builder()
        .max_size(config.max_size)
        .min_idle(config.min_idle)
        .connection_timeout(config.connection_timeout)
        // No `SELECT 1` before every use: it cost a round trip per checkout (three per order).
        // A connection that died (a database restart) fails the one request that draws it
        // (503, safe to retry with its Idempotency-Key) and is discarded when returned: diesel-async
        // reports a closed connection as broken.
        .test_on_check_out(false)
        .error_sink(Box::new(LogErrors))
        .build(AsyncDieselConnectionManager::<AsyncPgConnection>::new(config.url.clone()))
        .await
        .with_context(|| format!("could not connect to {target}"))?;
    drop(pool.get().await.map_err(crate::errors::pool).with_context(|| format!("could not connect to {target}"))?);
    tracing::info!(db.url = %target, db.pool.max_size = config.max_size, "postgres pool ready");
    Ok(pool)
}

/// bb8 retries failed connection attempts silently until the caller's timeout; this makes
/// the underlying cause visible in the logs (tokio-postgres errors carry no password).
#[derive(Debug, Clone, Copy)]
struct LogErrors;

impl bb8::ErrorSink<PoolError> for LogErrors {
    fn sink(&self, error: PoolError) {
        tracing::warn!(error = %error, "postgres connection failed");
    }

    fn boxed_clone(&self) -> Box<dyn bb8::ErrorSink<PoolError>> {
        Box::new(*self)
    }
}
