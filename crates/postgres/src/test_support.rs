//! A fresh, migrated database per test, cloned from a template (feature `test-support`).
//!
//! `DATABASE_URL` names a server (and a database to connect to, e.g. `postgres`) where the
//! tests may create databases. The first `TestDatabase::new()` of a process makes sure the
//! template `brokerage_tmpl_<hash of the migrations>` exists, migrating it once per server
//! (an advisory lock lets parallel test processes cooperate); after that every test database
//! is a `CREATE DATABASE … TEMPLATE …` file copy, far cheaper than migrating each one.

use crate::database_url::{redact, with_database};
use crate::migrations::run_migrations;
use crate::pool::PgPool;
use anyhow::Context as _;
use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Text};
use diesel_async::pooled_connection::AsyncDieselConnectionManager;
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl};
use std::time::Duration;
use tokio::sync::OnceCell;
use uuid::Uuid;

/// Session advisory lock held while the template is checked or built ("bktmpl").
const TEMPLATE_LOCK: i64 = 0x0000_626b_746d_706c;

/// The template's name, once this process has made sure it exists.
static TEMPLATE: OnceCell<String> = OnceCell::const_new();

/// A database of its own for one test, dropped (forcibly) when this value is dropped.
pub struct TestDatabase {
    server: String,
    name: String,
    url: String,
}

impl std::fmt::Debug for TestDatabase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestDatabase").field("url", &redact(&self.url)).finish()
    }
}

impl TestDatabase {
    /// Creates a migrated database. Fails, naming the variable, when `DATABASE_URL` is unset.
    pub async fn new() -> anyhow::Result<TestDatabase> {
        let server = std::env::var("DATABASE_URL").map_err(|_| {
            anyhow::anyhow!(
                "DATABASE_URL is not set: the Postgres tests need a server where they may create databases, \
                 e.g. DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres"
            )
        })?;
        let template = TEMPLATE.get_or_try_init(|| ensure_template(&server)).await?;
        let name = format!("t_{}", Uuid::now_v7().simple());
        let mut admin = admin_connection(&server).await?;
        diesel::sql_query(format!(r#"CREATE DATABASE "{name}" TEMPLATE "{template}""#))
            .execute(&mut admin)
            .await
            .with_context(|| format!("could not create test database {name} from {template}"))?;
        Ok(TestDatabase { url: with_database(&server, &name)?, server, name })
    }

    /// The URL of this test's database.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A pool on this test's database: up to 16 connections, opened on demand.
    pub async fn pool(&self) -> PgPool {
        PgPool::builder()
            .max_size(16)
            .connection_timeout(Duration::from_secs(30))
            .build_unchecked(AsyncDieselConnectionManager::<AsyncPgConnection>::new(self.url.clone()))
    }

    /// The text column `value` of every row `sql` returns, for tests that look at what is
    /// stored (`SELECT totp_secret AS value FROM users`).
    pub async fn texts(&self, sql: &str) -> anyhow::Result<Vec<Option<String>>> {
        #[derive(QueryableByName)]
        struct Row {
            #[diesel(sql_type = diesel::sql_types::Nullable<Text>)]
            value: Option<String>,
        }
        let mut conn = AsyncPgConnection::establish(&self.url).await.context("connect to the test database")?;
        let rows: Vec<Row> = diesel::sql_query(sql).load(&mut conn).await.context("run the test query")?;
        Ok(rows.into_iter().map(|r| r.value).collect())
    }
}

impl Drop for TestDatabase {
    /// Drops the database from a thread of its own with a small runtime: `Drop` cannot await,
    /// and may run inside (or after) the test's runtime. Errors are ignored: a leftover
    /// `t_…` database is harmless.
    fn drop(&mut self) {
        let (server, name) = (self.server.clone(), self.name.clone());
        let dropper = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
                return;
            };
            runtime.block_on(async {
                if let Ok(mut admin) = AsyncPgConnection::establish(&server).await {
                    // FORCE: pools the test leaked may still hold connections.
                    let sql = format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#);
                    let _ = diesel::sql_query(sql).execute(&mut admin).await;
                }
            });
        });
        let _ = dropper.join();
    }
}

async fn admin_connection(server: &str) -> anyhow::Result<AsyncPgConnection> {
    AsyncPgConnection::establish(server).await.with_context(|| format!("could not connect to {}", redact(server)))
}

/// Makes sure the template for the compiled-in migrations exists; returns its name.
async fn ensure_template(server: &str) -> anyhow::Result<String> {
    let name = format!("brokerage_tmpl_{}", env!("BROKERAGE_MIGRATIONS_HASH"));
    let mut admin = admin_connection(server).await?;
    // Advisory locks are per database, so every process connecting to the same server
    // database (DATABASE_URL) queues here; the later ones find the template built.
    diesel::sql_query("SELECT pg_advisory_lock($1)").bind::<BigInt, _>(TEMPLATE_LOCK).execute(&mut admin).await?;
    let built = build_template_if_missing(&mut admin, server, &name).await;
    let _ =
        diesel::sql_query("SELECT pg_advisory_unlock($1)").bind::<BigInt, _>(TEMPLATE_LOCK).execute(&mut admin).await;
    built.with_context(|| format!("could not prepare the template database {name}"))?;
    Ok(name)
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

async fn build_template_if_missing(admin: &mut AsyncPgConnection, server: &str, name: &str) -> anyhow::Result<()> {
    let existing = diesel::sql_query("SELECT count(*) AS n FROM pg_database WHERE datname = $1")
        .bind::<Text, _>(name)
        .get_result::<Count>(admin)
        .await?;
    if existing.n > 0 {
        return Ok(());
    }
    // Build under a scratch name and rename at the end: a run that dies half-way leaves
    // `…_wip` behind (dropped by the next run), never a half-migrated template.
    let wip = format!("{name}_wip");
    diesel::sql_query(format!(r#"DROP DATABASE IF EXISTS "{wip}" WITH (FORCE)"#)).execute(admin).await?;
    diesel::sql_query(format!(r#"CREATE DATABASE "{wip}""#)).execute(admin).await?;
    run_migrations(&with_database(server, &wip)?).await?;
    // RENAME and CREATE DATABASE … TEMPLATE refuse while anyone is connected: end every
    // session on it (the migration's connection may still be closing), then forbid new ones.
    diesel::sql_query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1")
        .bind::<Text, _>(&wip)
        .execute(admin)
        .await?;
    diesel::sql_query(format!(r#"ALTER DATABASE "{wip}" RENAME TO "{name}""#)).execute(admin).await?;
    diesel::sql_query(format!(r#"ALTER DATABASE "{name}" WITH IS_TEMPLATE true ALLOW_CONNECTIONS false"#))
        .execute(admin)
        .await?;
    Ok(())
}
