use crate::common::{customer, env};
use brokerage_domain::HealthCheck;
use brokerage_domain::accounts::LedgerStore;
use brokerage_postgres::{MIGRATIONS, run_migrations};
use diesel::QueryableByName;
use diesel::migration::MigrationSource;
use diesel::pg::Pg;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel::sql_types::BigInt;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

async fn applied(conn: &mut AsyncPgConnection) -> i64 {
    diesel::sql_query("SELECT count(*) AS n FROM __diesel_schema_migrations")
        .get_result::<Count>(conn)
        .await
        .expect("migrations table")
        .n
}

#[tokio::test]
async fn migrations_apply_to_an_empty_database_concurrently_and_again_without_error() {
    let env = env().await;
    let mut conn = AsyncPgConnection::establish(env.db.url()).await.expect("connects");
    // Start from nothing, then let two "instances" migrate at once, then a third later.
    conn.batch_execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;").await.expect("emptied");
    let (a, b) = tokio::join!(run_migrations(env.db.url()), run_migrations(env.db.url()));
    a.expect("first instance migrates");
    b.expect("second instance waits, then finds nothing pending");
    run_migrations(env.db.url()).await.expect("idempotent");

    let embedded = MigrationSource::<Pg>::migrations(&MIGRATIONS).expect("embedded").len();
    assert_eq!(applied(&mut conn).await, i64::try_from(embedded).expect("small"));
}

#[tokio::test]
async fn check_constraints_refuse_what_the_domain_forbids() {
    let env = env().await;
    let account = customer(&env.store).await;
    let mut conn = AsyncPgConnection::establish(env.db.url()).await.expect("connects");

    let negative = diesel::sql_query(
        "WITH u AS (INSERT INTO users (id, email, password_hash, role, status, created_at) \
                    VALUES (gen_random_uuid(), 'neg@example.com', 'x', 'customer', 'active', now()) RETURNING id) \
         INSERT INTO accounts (id, user_id, cash, held, created_at) SELECT gen_random_uuid(), id, -1, 0, now() FROM u",
    )
    .execute(&mut conn)
    .await;
    assert!(matches!(negative, Err(DieselError::DatabaseError(DatabaseErrorKind::CheckViolation, _))), "{negative:?}");

    let over_held = diesel::sql_query(format!("UPDATE accounts SET cash = 10, held = 11 WHERE id = '{}'", account.id))
        .execute(&mut conn)
        .await;
    assert!(matches!(over_held, Err(DieselError::DatabaseError(DatabaseErrorKind::CheckViolation, _))));

    let zero_position = diesel::sql_query(format!(
        "INSERT INTO positions (account_id, symbol, qty, held, cost_basis, updated_at, lot_qty, lot_cost) \
         VALUES ('{}', 'AAPL', 0, 0, 0, now(), '{{}}', '{{}}')",
        account.id
    ))
    .execute(&mut conn)
    .await;
    assert!(matches!(zero_position, Err(DieselError::DatabaseError(DatabaseErrorKind::CheckViolation, _))));

    // The engine's tables restate theirs: events and fills are numbered from 1, a fill moves
    // shares, a journal leg of a customer names the account.
    for sql in [
        format!(
            "INSERT INTO trade_events (account_id, seq, kind, order_id, status, filled_qty, held_cash, fill_seq, \
             updated_at, created_at) VALUES ('{}', 0, 'new', gen_random_uuid(), 'new', 0, 0, 0, now(), now())",
            account.id
        ),
        format!(
            "INSERT INTO fills (order_id, seq, account_id, qty, price, activity_id, created_at) \
             VALUES (gen_random_uuid(), 1, '{}', 0, 1, gen_random_uuid(), now())",
            account.id
        ),
        "INSERT INTO journal_postings (activity_id, leg, book, account_id, asset, amount, created_at) \
         VALUES (gen_random_uuid(), 1, 'customer', NULL, 'USD', 1, now())"
            .to_owned(),
    ] {
        let refused = diesel::sql_query(&sql).execute(&mut conn).await;
        assert!(
            matches!(refused, Err(DieselError::DatabaseError(DatabaseErrorKind::CheckViolation, _))),
            "{sql}: {refused:?}"
        );
    }
}

#[tokio::test]
async fn health_check_answers_for_a_live_database() {
    let env = env().await;
    assert_eq!(env.store.name(), "postgres");
    assert_eq!(env.store.check().await, Ok(()));
}

/// The SQL of one migration direction, read from the repository's `migrations/`.
fn migration_sql(name_prefix: &str, file: &str) -> String {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../migrations");
    let mut names: Vec<_> = std::fs::read_dir(&dir).expect("migrations/").map(|e| e.expect("entry").path()).collect();
    names.sort();
    let path = names.into_iter().find(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with(name_prefix)));
    std::fs::read_to_string(path.expect("migration exists").join(file)).expect("readable")
}

#[tokio::test]
async fn the_trading_engine_migration_backfills_lots_fills_and_journal_from_existing_rows_and_reverts() {
    let env = env().await;
    let mut conn = AsyncPgConnection::establish(env.db.url()).await.expect("connects");
    conn.batch_execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;").await.expect("emptied");
    for prefix in ["2026-11-25-000001", "2026-11-25-000002", "2026-11-25-000003", "2026-11-25-000004"] {
        conn.batch_execute(&migration_sql(prefix, "up.sql")).await.expect("earlier migration");
    }
    // A book as the previous version wrote it: a deposit, a buy filled in two fills, a sell
    // partly filled and still open (holding 4 shares), a resting buy holding 100.
    conn.batch_execute(
        "INSERT INTO users VALUES ('00000000-0000-7000-8000-000000000001', 'a@example.com', 'h', 'customer', \
                                   'active', false, now());
         INSERT INTO accounts VALUES ('00000000-0000-7000-8000-0000000000a1', '00000000-0000-7000-8000-000000000001', \
                                      'USD', 599, 100, 'active', now());
         INSERT INTO orders (id, account_id, symbol, side, order_type, time_in_force, qty, status, filled_qty, \
                             filled_avg_price, held_cash, created_at, updated_at, submitted_at) VALUES
           ('00000000-0000-7000-8000-0000000000b1', '00000000-0000-7000-8000-0000000000a1', 'AAPL', 'buy', 'market', \
            'day', 10, 'filled', 10, 100.1, 0, now(), now(), now()),
           ('00000000-0000-7000-8000-0000000000b2', '00000000-0000-7000-8000-0000000000a1', 'AAPL', 'sell', 'limit', \
            'day', 10, 'partially_filled', 6, 100, 0, now(), now(), now()),
           ('00000000-0000-7000-8000-0000000000b3', '00000000-0000-7000-8000-0000000000a1', 'MSFT', 'buy', 'limit', \
            'day', 1, 'new', 0, NULL, 100, now(), now(), now());
         INSERT INTO activities VALUES
           ('00000000-0000-7000-8000-0000000000c1', '00000000-0000-7000-8000-0000000000a1', 'deposit', 1000, \
            NULL, NULL, NULL, NULL, NULL, now()),
           ('00000000-0000-7000-8000-0000000000c2', '00000000-0000-7000-8000-0000000000a1', 'fill', -400.4, \
            '00000000-0000-7000-8000-0000000000b1', 'AAPL', 'buy', 4, 100.1, now()),
           ('00000000-0000-7000-8000-0000000000c3', '00000000-0000-7000-8000-0000000000a1', 'fill', -600.6, \
            '00000000-0000-7000-8000-0000000000b1', 'AAPL', 'buy', 6, 100.1, now() + interval '1 second'),
           ('00000000-0000-7000-8000-0000000000c4', '00000000-0000-7000-8000-0000000000a1', 'fill', 600, \
            '00000000-0000-7000-8000-0000000000b2', 'AAPL', 'sell', 6, 100, now());
         INSERT INTO positions VALUES ('00000000-0000-7000-8000-0000000000a1', 'AAPL', 4, 4, 400.4, now());",
    )
    .await
    .expect("legacy rows");
    let up = migration_sql("2026-11-25-000005", "up.sql");
    conn.batch_execute(&up).await.expect("the trading engine migration");
    let problems = env.store.audit().await.expect("audit runs");
    assert!(problems.is_empty(), "{problems:#?}");
    let count = |sql: &'static str| {
        let db = &env.db;
        async move { db.texts(sql).await.expect("query")[0].clone().expect("a value") }
    };
    assert_eq!(count("SELECT count(*)::text AS value FROM fills").await, "3");
    assert_eq!(count("SELECT fill_seq::text AS value FROM orders WHERE side = 'buy' AND status = 'filled'").await, "2");
    assert_eq!(count("SELECT count(*)::text AS value FROM journal_postings").await, "14");
    assert_eq!(count("SELECT lot_cost::text AS value FROM positions").await, "{400.4000}");

    // And back, and forward again.
    conn.batch_execute(&migration_sql("2026-11-25-000005", "down.sql")).await.expect("reverts");
    conn.batch_execute(&up).await.expect("applies again");
    let problems = env.store.audit().await.expect("audit runs");
    assert!(problems.is_empty(), "{problems:#?}");
}
