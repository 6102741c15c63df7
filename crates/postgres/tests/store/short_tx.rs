//! Order placement runs in two round trips (`short_tx.rs`: `BEGIN` sent with the locks,
//! `COMMIT` with the writes). These prove the two ways that could go wrong do not: a `COMMIT`
//! overtaking writes still being prepared on a new connection, and a request dropped inside its
//! transaction handing the next request a connection in an open transaction.

use crate::common::{assert_sound, count, customer, deposit, env, limit_buy, money};
use brokerage_domain::accounts::AccountStore;
use brokerage_domain::orders::{AfterPlace, OrderStore, StoreOrderError};
use brokerage_domain::{AccountId, Money};
use brokerage_postgres::{PgPool, PgStore};
use diesel_async::pooled_connection::AsyncDieselConnectionManager;
use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use std::time::Duration;

async fn fresh_pool(url: &str, max_size: u32) -> PgPool {
    PgPool::builder()
        .max_size(max_size)
        .build(AsyncDieselConnectionManager::<AsyncPgConnection>::new(url.to_owned()))
        .await
        .expect("pool")
}

async fn held(store: &PgStore, account: AccountId) -> Money {
    AccountStore::get(store, account).await.expect("read").expect("exists").held
}

#[tokio::test]
async fn a_failed_last_write_undoes_the_whole_placement_even_on_a_new_connection() {
    let env = env().await;
    let account = customer(&env.store).await.id;
    deposit(&env.store, account, "1000").await;
    // The order's `new` event is the booking's last write; make it fail.
    let mut admin = AsyncPgConnection::establish(env.db.url()).await.expect("connects");
    admin
        .batch_execute(
            "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'refused'; END $$; \
             CREATE TRIGGER refuse BEFORE INSERT ON trade_events FOR EACH ROW EXECUTE FUNCTION refuse();",
        )
        .await
        .expect("trigger");

    // A new pool: nothing is prepared on its connection yet, so the writes wait for their
    // statements to be prepared while `COMMIT` is ready to go.
    let store = PgStore::new(fresh_pool(env.db.url(), 1).await);
    let order = limit_buy(account, "AAPL", "1", "100");
    let refused = store.place(&order, money("100"), &AfterPlace::Rest).await;
    assert!(matches!(refused, Err(StoreOrderError::Infra(_))), "{refused:?}");

    let orders = count(&env.db, &format!("SELECT count(*)::text AS value FROM orders WHERE id = '{}'", order.id)).await;
    assert_eq!(orders, 0, "the order insert was rolled back with the failed event");
    assert_eq!(held(&env.store, account).await, Money::ZERO, "no cash stays held");
    // The connection is fine afterwards.
    admin.batch_execute("DROP TRIGGER refuse ON trade_events").await.expect("drop trigger");
    store.place(&limit_buy(account, "AAPL", "1", "100"), money("100"), &AfterPlace::Rest).await.expect("places");
    assert_sound(&env.store).await;
}

#[tokio::test]
async fn a_placement_dropped_inside_its_transaction_leaves_no_transaction_open() {
    let env = env().await;
    let account = customer(&env.store).await.id;
    deposit(&env.store, account, "1000").await;
    let store = PgStore::new(fresh_pool(env.db.url(), 1).await);

    // Another session holds the account's lock, so the placement waits inside its transaction.
    let mut holder = AsyncPgConnection::establish(env.db.url()).await.expect("connects");
    holder
        .batch_execute(&format!("BEGIN; SELECT 1 FROM accounts WHERE id = '{account}' FOR UPDATE"))
        .await
        .expect("lock");
    let dropped = limit_buy(account, "AAPL", "1", "100");
    let waited =
        tokio::time::timeout(Duration::from_millis(300), store.place(&dropped, money("100"), &AfterPlace::Rest)).await;
    assert!(waited.is_err(), "the placement waits for the lock: {waited:?}");
    holder.batch_execute("ROLLBACK").await.expect("unlock");

    // The dropped request's session must not linger "idle in transaction" (holding the
    // account's lock for good); its connection is discarded, not handed on.
    let idle_in_tx = "SELECT count(*)::text AS value FROM pg_stat_activity \
         WHERE datname = current_database() AND state LIKE 'idle in transaction%' AND pid <> pg_backend_pid()";
    let mut lingering = count(&env.db, idle_in_tx).await;
    for _ in 0..50 {
        if lingering == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        lingering = count(&env.db, idle_in_tx).await;
    }
    assert_eq!(lingering, 0, "a session was left inside the dropped transaction");

    let next = limit_buy(account, "MSFT", "2", "100");
    store.place(&next, money("200"), &AfterPlace::Rest).await.expect("the next request places");
    assert!(OrderStore::get(&env.store, dropped.id).await.expect("read").is_none(), "nothing of the dropped one");
    assert!(OrderStore::get(&env.store, next.id).await.expect("read").is_some(), "committed, seen elsewhere");
    assert_eq!(held(&env.store, account).await, money("200"));
    assert_sound(&env.store).await;
}

#[derive(diesel::QueryableByName)]
struct Prepared {
    #[diesel(sql_type = diesel::sql_types::Text)]
    statement: String,
}

#[tokio::test]
async fn begin_commit_and_the_key_index_are_prepared_once_per_connection_not_once_per_order() {
    let env = env().await;
    let account = customer(&env.store).await.id;
    deposit(&env.store, account, "1000").await;
    let pool = fresh_pool(env.db.url(), 1).await;
    let store = PgStore::new(pool.clone());
    for i in 0..3 {
        // With an `Idempotency-Key` the transaction also looks the key up and records it.
        let mut order = limit_buy(account, "AAPL", "1", "100");
        order.request_key = Some(format!("key-{i}"));
        store.place(&order, money("100"), &AfterPlace::Rest).await.expect("places");
    }
    // The pool's one connection: a statement prepared anew for each order would have been
    // closed after it (diesel-async drops uncached statements), so only cached ones are left.
    let mut conn = pool.get().await.expect("the pool's connection");
    let prepared: Vec<Prepared> = diesel_async::RunQueryDsl::load(
        diesel::sql_query(
            "SELECT statement FROM pg_prepared_statements \
             WHERE (statement IN ('BEGIN', 'COMMIT') OR statement LIKE '%request_keys%') \
               AND statement NOT LIKE '%pg_prepared_statements%' ORDER BY statement",
        ),
        &mut *conn,
    )
    .await
    .expect("reads the session's prepared statements");
    let statements: Vec<&str> = prepared.iter().map(|p| p.statement.as_str()).collect();
    assert_eq!(statements.len(), 4, "{statements:?}");
    assert_eq!(statements[..2], ["BEGIN", "COMMIT"], "each prepared once, kept for the next order");
    assert!(statements[2].starts_with("INSERT INTO request_keys"), "{statements:?}");
    assert!(statements[3].starts_with("SELECT order_id, activity_id FROM request_keys"), "{statements:?}");
}
