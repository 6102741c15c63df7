//! The connection pool: bb8 over diesel-async's `AsyncPgConnection` (tokio-postgres, no libpq).

use crate::database_url::redact;
use crate::lanes::PgPools;
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
    check(config)?;
    let pool = build(config, config.max_size, config.min_idle).await?;
    let target = redact(&config.url);
    drop(pool.get().await.map_err(crate::errors::pool).with_context(|| format!("could not connect to {target}"))?);
    tracing::info!(db.url = %target, db.pool.max_size = config.max_size, "postgres pool ready");
    Ok(pool)
}

/// [`connect`], split into lanes (`lanes.rs`): a shared lane of max(2, `max_size`/8)
/// connections (it keeps `min_idle`) and `workers` lanes sharing the rest, at least one each.
pub async fn connect_lanes(config: &PoolConfig, workers: usize) -> anyhow::Result<PgPools> {
    check(config)?;
    let workers = u32::try_from(workers.max(1)).unwrap_or(u32::MAX);
    let background = (config.max_size / 8).max(2).min(config.max_size);
    let per_worker = (config.max_size.saturating_sub(background) / workers).max(1);
    // Lane 0 is checked like a single pool: a wrong URL fails start-up here.
    let shared =
        PoolConfig { max_size: background, min_idle: config.min_idle.map(|m| m.min(background)), ..config.clone() };
    let mut lanes = vec![connect(&shared).await?];
    for _ in 0..workers {
        // Opened on demand by the worker that uses them (see `lanes.rs`), never here.
        lanes.push(build(config, per_worker, None).await?);
    }
    tracing::info!(
        db.url = %redact(&config.url),
        db.pool.background = background,
        db.pool.per_worker = per_worker,
        db.pool.workers = workers,
        "postgres pools ready"
    );
    PgPools::per_worker(lanes)
}

fn check(config: &PoolConfig) -> anyhow::Result<()> {
    // bb8 asserts these; refuse them as errors instead of panicking.
    anyhow::ensure!(config.max_size > 0, "database pool max_size must be at least 1");
    anyhow::ensure!(
        config.min_idle.is_none_or(|m| m <= config.max_size),
        "database pool min_idle must not exceed max_size"
    );
    anyhow::ensure!(!config.connection_timeout.is_zero(), "database connection_timeout must be positive");
    Ok(())
}

async fn build(config: &PoolConfig, max_size: u32, min_idle: Option<u32>) -> anyhow::Result<PgPool> {
    let target = redact(&config.url);
    PgPool::builder()
        .max_size(max_size)
        .min_idle(min_idle)
        .connection_timeout(config.connection_timeout)
        // No `SELECT 1` before every use: it cost a round trip per checkout (three per order).
        // A connection that died (a database restart) fails the one request that draws it
        // (503, safe to retry with its Idempotency-Key) and is discarded when returned: diesel-async
        // reports a closed connection as broken.
        .test_on_check_out(false)
        .error_sink(Box::new(LogErrors))
        .build(AsyncDieselConnectionManager::<AsyncPgConnection>::new(config.url.clone()))
        .await
        .with_context(|| format!("could not connect to {target}"))
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
