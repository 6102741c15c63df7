//! Readiness: can a pooled connection answer `SELECT 1` quickly?

use crate::store::PgStore;
use async_trait::async_trait;
use brokerage_domain::HealthCheck;
use diesel_async::RunQueryDsl;
use std::time::Duration;

/// A readiness probe must answer fast even when the database hangs.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

#[async_trait]
impl HealthCheck for PgStore {
    fn name(&self) -> &'static str {
        "postgres"
    }

    #[tracing::instrument(skip_all, fields(db.system = "postgresql", db.operation = "health_check"))]
    async fn check(&self) -> Result<(), String> {
        let probe = async {
            let mut conn = self.pools.pool().get().await.map_err(|_| "no connection available".to_owned())?;
            diesel::sql_query("SELECT 1").execute(&mut conn).await.map_err(|_| "query failed".to_owned())?;
            Ok(())
        };
        tokio::time::timeout(CHECK_TIMEOUT, probe).await.unwrap_or_else(|_| Err("timed out".to_owned()))
    }
}
