//! The trade-update outbox: numbered per account, without gaps, under concurrency.

use crate::common::{assert_sound, customer, deposit, env, limit_buy, money};
use brokerage_domain::AccountId;
use brokerage_domain::orders::{AfterPlace, EventKind, EventStore, OrderStatus, OrderStore};
use chrono::Utc;
use std::collections::HashSet;
use tokio::task::JoinSet;
use uuid::Uuid;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_orders_of_one_account_number_their_events_without_gap_or_duplicate() {
    let env = env().await;
    let account = customer(&env.store).await.id;
    deposit(&env.store, account, "100000").await;

    let mut tasks = JoinSet::new();
    for _ in 0..20 {
        let store = env.store.clone();
        tasks.spawn(async move {
            let placed = store.place(&limit_buy(account, "AAPL", "1", "100"), money("100"), &AfterPlace::Rest).await;
            let placed = placed.expect("affordable");
            store.cancel(account, placed.id, Utc::now()).await.expect("open")
        });
    }
    let mut ids = HashSet::new();
    while let Some(done) = tasks.join_next().await {
        ids.insert(done.expect("ran").id);
    }

    assert_eq!(env.store.last_event_seq(account).await.unwrap(), 40);
    let events = env.store.events_after(account, 0, 1000).await.unwrap();
    assert_eq!(events.iter().map(|e| e.seq).collect::<Vec<_>>(), (1..=40).collect::<Vec<u64>>());
    // Each order: its `new` before its `canceled`, each with the order as it then stood.
    for id in &ids {
        let mine: Vec<_> = events.iter().filter(|e| e.order.id == *id).collect();
        let kinds: Vec<_> = mine.iter().map(|e| (e.kind, e.order.status, e.order.held_cash)).collect();
        assert_eq!(
            kinds,
            vec![
                (EventKind::New, OrderStatus::New, money("100")),
                (EventKind::Canceled, OrderStatus::Canceled, money("0"))
            ]
        );
        assert!(mine.iter().all(|e| e.account_id == account));
    }
    // Resuming after a cursor, in pages.
    let page = env.store.events_after(account, 17, 5).await.unwrap();
    assert_eq!(page.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![18, 19, 20, 21, 22]);
    assert!(env.store.events_after(account, 40, 10).await.unwrap().is_empty());
    let ghost = AccountId::from_uuid(Uuid::now_v7());
    assert_eq!(env.store.last_event_seq(ghost).await.unwrap(), 0);
    assert_eq!(
        OrderStore::get(&env.store, *ids.iter().next().unwrap()).await.unwrap().map(|o| o.status),
        Some(OrderStatus::Canceled)
    );
    assert_sound(&env.store).await;
}
