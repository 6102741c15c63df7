use crate::common::{customer, env};
use brokerage_domain::HealthCheck;
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
        "INSERT INTO positions (account_id, symbol, qty, held, cost_basis, updated_at) \
         VALUES ('{}', 'AAPL', 0, 0, 0, now())",
        account.id
    ))
    .execute(&mut conn)
    .await;
    assert!(matches!(zero_position, Err(DieselError::DatabaseError(DatabaseErrorKind::CheckViolation, _))));
}

#[tokio::test]
async fn health_check_answers_for_a_live_database() {
    let env = env().await;
    assert_eq!(env.store.name(), "postgres");
    assert_eq!(env.store.check().await, Ok(()));
}
