//! The one store type implementing every storage port.

use crate::errors;
use crate::lanes::PgPools;
use crate::pool::PgPool;
use brokerage_domain::InfraError;
use diesel_async::AsyncPgConnection;
use diesel_async::pooled_connection::bb8::PooledConnection;

/// Postgres implementation of `UserStore`, `AccountStore`, `LedgerStore`, `PositionStore`,
/// `OrderStore`, `ExecutionStore`, `EventStore` and `HealthCheck`. Cheap to clone: clones share the pools.
#[derive(Clone)]
pub struct PgStore {
    pub(crate) pools: PgPools,
}

impl PgStore {
    /// A store on one pool shared by every thread.
    pub fn new(pool: PgPool) -> Self {
        Self { pools: PgPools::single(pool) }
    }

    /// A store drawing each thread's connections from its own pool (`lanes.rs`).
    pub fn with_lanes(pools: PgPools) -> Self {
        Self { pools }
    }

    /// A connection from this thread's pool; `Unavailable` when none comes within the pool's timeout.
    pub(crate) async fn conn(&self) -> Result<PooledConnection<'_, AsyncPgConnection>, InfraError> {
        self.pools.pool().get().await.map_err(errors::pool)
    }
}
