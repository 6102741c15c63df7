//! `OrderStore::replace`: both the close of the old order and the new order, or neither.

use crate::common::{assert_sound, count, customer, d, deposit, env, limit_buy, money, with_client_id};
use brokerage_domain::accounts::AccountStore;
use brokerage_domain::orders::settlement::SettlementError;
use brokerage_domain::orders::{
    AfterPlace, EventKind, EventStore, OrderStatus, OrderStore, ReplaceStoreError, TransitionError,
};
use brokerage_domain::{Money, OrderId};
use chrono::Utc;
use uuid::Uuid;

#[tokio::test]
async fn a_replacement_closes_the_old_order_and_moves_the_hold_to_the_new_one() {
    let env = env().await;
    let account = customer(&env.store).await.id;
    deposit(&env.store, account, "1000").await;
    let old = env.store.place(&limit_buy(account, "AAPL", "5", "100"), money("500"), &AfterPlace::Rest).await.unwrap();

    let new = limit_buy(account, "AAPL", "8", "110");
    let placed = env.store.replace(account, old.id, &new, money("880"), &AfterPlace::Rest).await.expect("affordable");
    assert_eq!(
        (placed.id, placed.status, placed.held_cash, placed.replaces),
        (new.id, OrderStatus::New, money("880"), Some(old.id))
    );
    let closed = OrderStore::get(&env.store, old.id).await.unwrap().unwrap();
    assert_eq!(
        (closed.status, closed.held_cash, closed.replaced_by),
        (OrderStatus::Replaced, Money::ZERO, Some(new.id))
    );
    let acct = AccountStore::get(&env.store, account).await.unwrap().unwrap();
    assert_eq!((acct.cash, acct.held), (money("1000"), money("880")));
    let kinds: Vec<_> = env.store.events_after(account, 0, 10).await.unwrap().iter().map(|e| (e.seq, e.kind)).collect();
    assert_eq!(kinds, vec![(1, EventKind::New), (2, EventKind::Replaced), (3, EventKind::New)]);

    // The replaced order is closed: it cannot be replaced again.
    let again =
        env.store.replace(account, old.id, &limit_buy(account, "AAPL", "1", "1"), money("1"), &AfterPlace::Rest).await;
    assert!(
        matches!(again, Err(ReplaceStoreError::Rejected(SettlementError::Transition(TransitionError::NotOpen)))),
        "{again:?}"
    );
    assert_sound(&env.store).await;
}

#[tokio::test]
async fn an_unaffordable_or_conflicting_replacement_leaves_the_old_order_untouched() {
    let env = env().await;
    let account = customer(&env.store).await.id;
    deposit(&env.store, account, "1000").await;
    let other = with_client_id(limit_buy(account, "MSFT", "1", "100"), "taken");
    env.store.place(&other, money("100"), &AfterPlace::Rest).await.unwrap();
    let old = env.store.place(&limit_buy(account, "AAPL", "5", "100"), money("500"), &AfterPlace::Rest).await.unwrap();
    let before = AccountStore::get(&env.store, account).await.unwrap().unwrap();

    // 900 of free cash once the old hold is back: 901 is too much.
    let too_big = limit_buy(account, "AAPL", "9.01", "100");
    let err = env.store.replace(account, old.id, &too_big, money("901"), &AfterPlace::Rest).await;
    assert!(matches!(err, Err(ReplaceStoreError::Rejected(SettlementError::InsufficientBuyingPower))), "{err:?}");
    let dup = with_client_id(limit_buy(account, "AAPL", "1", "100"), "taken");
    let err = env.store.replace(account, old.id, &dup, money("100"), &AfterPlace::Rest).await;
    assert!(matches!(err, Err(ReplaceStoreError::DuplicateClientOrderId)), "{err:?}");
    let stranger = customer(&env.store).await.id;
    let err = env
        .store
        .replace(stranger, old.id, &limit_buy(stranger, "AAPL", "1", "1"), money("1"), &AfterPlace::Rest)
        .await;
    assert!(matches!(err, Err(ReplaceStoreError::NotFound)), "{err:?}");
    let err = env
        .store
        .replace(
            account,
            OrderId::from_uuid(Uuid::now_v7()),
            &limit_buy(account, "AAPL", "1", "1"),
            money("1"),
            &AfterPlace::Rest,
        )
        .await;
    assert!(matches!(err, Err(ReplaceStoreError::NotFound)), "{err:?}");

    assert_eq!(OrderStore::get(&env.store, old.id).await.unwrap(), Some(old.clone()));
    assert!(OrderStore::get(&env.store, too_big.id).await.unwrap().is_none());
    assert!(OrderStore::get(&env.store, dup.id).await.unwrap().is_none());
    assert_eq!(AccountStore::get(&env.store, account).await.unwrap(), Some(before));
    assert_eq!(count(&env.db, "SELECT count(*)::text AS value FROM trade_events").await, 2);

    // And it still cancels normally.
    let canceled = env.store.cancel(account, old.id, Utc::now()).await.expect("still open");
    assert_eq!((canceled.status, canceled.filled_qty), (OrderStatus::Canceled, d("0")));
    assert_sound(&env.store).await;
}
