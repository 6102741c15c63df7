use crate::common::{assert_sound, customer, deposit, env, limit_buy, money};
use brokerage_domain::accounts::AccountStore;
use brokerage_domain::orders::settlement::SettlementError;
use brokerage_domain::orders::{AfterPlace, OrderFilter, OrderStore, StatusFilter, StoreOrderError};
use brokerage_domain::{Money, PageRequest};
use tokio::task::JoinSet;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_buys_never_spend_the_same_cash_twice() {
    let env = env().await;
    let account = customer(&env.store).await.id;
    deposit(&env.store, account, "10000").await;

    // 50 buys of 1000 each against 10000 of cash: five times what the account can cover.
    let mut tasks = JoinSet::new();
    for _ in 0..50 {
        let store = env.store.clone();
        tasks.spawn(async move {
            store.place(&limit_buy(account, "AAPL", "10", "100"), money("1000"), &AfterPlace::Rest).await
        });
    }
    let (mut accepted, mut refused) = (0, 0);
    while let Some(result) = tasks.join_next().await {
        match result.expect("task ran") {
            Ok(_) => accepted += 1,
            Err(StoreOrderError::Rejected(SettlementError::InsufficientBuyingPower)) => refused += 1,
            Err(other) => panic!("unexpected error: {other:?}"),
        }
    }
    assert_eq!((accepted, refused), (10, 40));
    // The buys really ran side by side, on many connections, not one after the other.
    assert!(env.pool.state().connections >= 10, "{:?}", env.pool.state());

    let stored = AccountStore::get(&env.store, account).await.expect("read").expect("exists");
    assert!(stored.cash.checked_sub(stored.held).expect("in range") >= Money::ZERO);
    assert_eq!((stored.cash, stored.held), (money("10000"), money("10000")));
    let orders = OrderStore::list(
        &env.store,
        Some(account),
        &OrderFilter { status: StatusFilter::All, symbol: None },
        &PageRequest::first(100).unwrap(),
    )
    .await
    .expect("read")
    .items;
    assert_eq!(orders.len(), 10);
    let held: Money = orders.iter().try_fold(Money::ZERO, |sum, o| sum.checked_add(o.held_cash)).expect("in range");
    assert!(held <= money("10000"));
    assert_eq!(held, stored.held);
    assert_sound(&env.store).await;
}
