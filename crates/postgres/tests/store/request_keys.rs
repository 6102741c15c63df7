//! A request retried with its `Idempotency-Key` after a crash lost its recorded answer makes
//! no second effect: the key is stored with the order or cash movement it made.

use crate::common::{assert_sound, count, customer, d, deposit, env, limit_buy, money};
use brokerage_domain::accounts::{AccountStore, Activity, MoveCashError};
use brokerage_domain::orders::{AfterPlace, OrderStore, StoreOrderError};
use brokerage_domain::{ActivityId, Amount, OrderId};
use chrono::Utc;
use uuid::Uuid;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_key_places_one_order_even_when_retried_concurrently() {
    let env = env().await;
    let account = customer(&env.store).await.id;
    deposit(&env.store, account, "1000").await;
    // Two attempts of one request: each built afresh (new ids), as a retry would be.
    let attempt = || {
        let mut o = limit_buy(account, "AAPL", "1", "10");
        o.request_key = Some("key-1".into());
        o
    };
    let (a, b) = (attempt(), attempt());
    let (first, second) = tokio::join!(
        env.store.place(&a, money("10"), &AfterPlace::Rest),
        env.store.place(&b, money("10"), &AfterPlace::Rest)
    );
    let ids: Vec<OrderId> = [first, second]
        .into_iter()
        .map(|r| match r {
            Ok(o) => o.id,
            Err(StoreOrderError::AlreadyPlaced(o)) => o.id,
            Err(e) => panic!("unexpected {e}"),
        })
        .collect();
    assert_eq!(ids[0], ids[1], "both attempts name the one order");
    assert_eq!(count(&env.db, "SELECT count(*)::text AS value FROM orders").await, 1);
    assert_eq!(AccountStore::get(&env.store, account).await.unwrap().unwrap().held, money("10"));

    // Another key places another order.
    let mut other = limit_buy(account, "AAPL", "1", "10");
    other.request_key = Some("key-2".into());
    env.store.place(&other, money("10"), &AfterPlace::Rest).await.expect("placed");
    assert_eq!(count(&env.db, "SELECT count(*)::text AS value FROM orders").await, 2);
    assert_sound(&env.store).await;
}

#[tokio::test]
async fn one_key_moves_cash_once() {
    let env = env().await;
    let account = customer(&env.store).await.id;
    let attempt = || Activity {
        request_key: Some("dep-1".into()),
        ..Activity::deposit(ActivityId::from_uuid(Uuid::now_v7()), account, Amount::new(d("25")).unwrap(), Utc::now())
    };
    let first = attempt();
    env.store.move_cash(&first).await.expect("credited");
    match env.store.move_cash(&attempt()).await {
        Err(MoveCashError::AlreadyApplied(a)) => assert_eq!(a.id, first.id),
        other => panic!("expected AlreadyApplied, got {other:?}"),
    }
    assert_eq!(AccountStore::get(&env.store, account).await.unwrap().unwrap().cash, money("25"));
    assert_sound(&env.store).await;
}
