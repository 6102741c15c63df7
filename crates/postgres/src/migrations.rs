//! Embedded schema migrations (`migrations/` at the workspace root, compiled in).

use crate::database_url::redact;
use anyhow::Context as _;
use diesel::Connection as _;
use diesel::connection::SimpleConnection as _;
use diesel_async::AsyncPgConnection;
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness as _, embed_migrations};

/// Every migration of the workspace, in order.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations");

/// Session advisory lock held while migrating ("brokmig" in ASCII): instances starting at the
/// same time migrate one after the other, and the later ones find nothing pending.
const MIGRATION_LOCK: i64 = 0x0062_726f_6b6d_6967;

/// Applies the pending migrations to the database at `url`. Idempotent, and safe when several
/// processes start at once.
pub async fn run_migrations(url: &str) -> anyhow::Result<()> {
    let url = url.to_owned();
    // diesel's migration harness is synchronous: drive the async connection from a blocking
    // thread (works under any tokio runtime flavour, unlike `block_in_place`).
    tokio::task::spawn_blocking(move || migrate_blocking(&url)).await.context("the migration task failed")?
}

fn migrate_blocking(url: &str) -> anyhow::Result<()> {
    let mut conn = AsyncConnectionWrapper::<AsyncPgConnection>::establish(url)
        .with_context(|| format!("could not connect to {} to migrate", redact(url)))?;
    conn.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK})"))
        .context("could not take the migration lock")?;
    let applied = conn.run_pending_migrations(MIGRATIONS).map(|versions| versions.len());
    // Closing the session would release the lock too; unlock explicitly anyway.
    let unlocked = conn.batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})"));
    let applied = applied.map_err(|e| anyhow::anyhow!(e)).context("applying migrations failed")?;
    unlocked.context("could not release the migration lock")?;
    tracing::info!(db.migrations.applied = applied, "database schema up to date");
    Ok(())
}
