use crate::common::env;
use brokerage_domain::accounts::AccountStore;
use brokerage_domain::{AccountId, HealthCheck, InfraError};
use brokerage_postgres::{PgPool, PgStore, PoolConfig, connect};
use diesel_async::AsyncPgConnection;
use diesel_async::pooled_connection::AsyncDieselConnectionManager;
use std::time::Duration;
use uuid::Uuid;

/// Nothing listens on port 1.
const DEAD: &str = "postgres://app:hunter2@127.0.0.1:1/brokerage";

fn config(url: &str) -> PoolConfig {
    PoolConfig { url: url.to_owned(), max_size: 4, min_idle: Some(1), connection_timeout: Duration::from_secs(5) }
}

#[tokio::test]
async fn connect_builds_a_working_pool() {
    let env = env().await;
    let pool = connect(&config(env.db.url())).await.expect("connects");
    assert_eq!(PgStore::new(pool).check().await, Ok(()));
}

#[tokio::test]
async fn an_unreachable_database_fails_start_up_without_revealing_the_password() {
    let quick = PoolConfig { min_idle: None, connection_timeout: Duration::from_millis(300), ..config(DEAD) };
    let err = connect(&quick).await.expect_err("nothing listens there");
    let message = format!("{err:#}");
    assert!(message.contains("postgres://app:***@127.0.0.1:1/brokerage"), "{message}");
    assert!(!message.contains("hunter2"), "{message}");
    assert!(!format!("{quick:?}").contains("hunter2"));

    let invalid = PoolConfig { max_size: 0, ..config(DEAD) };
    assert!(connect(&invalid).await.is_err(), "refused, not a panic");
}

#[tokio::test]
async fn a_store_without_its_database_is_unavailable_not_broken() {
    let pool: PgPool = PgPool::builder()
        .connection_timeout(Duration::from_millis(300))
        .build_unchecked(AsyncDieselConnectionManager::<AsyncPgConnection>::new(DEAD));
    let store = PgStore::new(pool);
    let err = AccountStore::get(&store, AccountId::from_uuid(Uuid::now_v7())).await;
    assert!(matches!(err, Err(InfraError::Unavailable(_))), "{err:?}");
    assert!(store.check().await.is_err());
}
