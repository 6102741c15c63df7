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

/// Each HTTP worker thread draws from the lane it claimed, every other thread from lane 0:
/// two worker threads, each on a single-threaded runtime as actix runs them, and this one.
#[tokio::test]
async fn connect_lanes_gives_each_worker_thread_its_own_pool() {
    let env = env().await;
    // No min_idle: bb8 would top lane 0 up in the background and blur the counts.
    let config = PoolConfig { max_size: 16, min_idle: None, ..config(env.db.url()) };
    let pools = brokerage_postgres::connect_lanes(&config, 2).await.expect("connects");
    let store = PgStore::with_lanes(pools.clone());
    assert_eq!(store.check().await, Ok(()), "an unclaimed thread uses lane 0");
    assert_eq!(pools.open_per_lane(), vec![1, 0, 0]);
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let (store, pools) = (store.clone(), pools.clone());
            std::thread::spawn(move || {
                pools.claim_lane();
                let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
                rt.block_on(async {
                    for _ in 0..3 {
                        assert_eq!(store.check().await, Ok(()));
                    }
                });
            })
        })
        .collect();
    for w in workers {
        w.join().expect("worker");
    }
    assert_eq!(pools.open_per_lane(), vec![1, 1, 1], "one connection in each worker's own lane");
    // A third worker finds no lane left and shares lane 0.
    pools.claim_lane();
    assert_eq!(store.check().await, Ok(()));
    assert_eq!(pools.open_per_lane(), vec![1, 1, 1]);
}
