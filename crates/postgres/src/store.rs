//! The one store type implementing every storage port.

use crate::errors;
use crate::pool::PgPool;
use brokerage_domain::InfraError;
use diesel_async::AsyncPgConnection;
use diesel_async::pooled_connection::bb8::PooledConnection;

/// Postgres implementation of `UserStore`, `AccountStore`, `LedgerStore`, `PositionStore`,
/// `OrderStore`, `ExecutionStore`, `EventStore` and `HealthCheck`. Cheap to clone: clones share the pool.
#[derive(Clone)]
pub struct PgStore {
    pub(crate) pool: PgPool,
}

impl PgStore {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    /// A connection from the pool; `Unavailable` when none comes within the pool's timeout.
    pub(crate) async fn conn(&self) -> Result<PooledConnection<'_, AsyncPgConnection>, InfraError> {
        self.pool.get().await.map_err(errors::pool)
    }
}
