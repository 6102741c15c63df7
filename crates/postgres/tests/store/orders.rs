use crate::common::{assert_sound, customer, d, deposit, env, limit_buy, money, order, with_client_id};
use brokerage_domain::accounts::{AccountStore, ActivityFilter, ActivityKind, LedgerStore};
use brokerage_domain::market::Symbol;
use brokerage_domain::orders::settlement::{Fill, SettlementError};
use brokerage_domain::orders::{
    AfterPlace, CancelStoreError, ClientOrderId, OrderFilter, OrderStatus, OrderStore, OrderType, Side, StatusFilter,
    StoreOrderError, TransitionError,
};
use brokerage_domain::positions::PositionStore;
use brokerage_domain::{AccountId, ActivityId, Money, OrderId, PageRequest, Price, Quantity};
use brokerage_postgres::PgStore;
use chrono::Utc;
use uuid::Uuid;

fn fill(qty: &str, price: &str) -> AfterPlace {
    AfterPlace::Fill(Fill {
        activity_id: ActivityId::from_uuid(Uuid::now_v7()),
        fee_activity_id: ActivityId::from_uuid(Uuid::now_v7()),
        fee: Money::ZERO,
        qty: Quantity::new(d(qty)).expect("valid"),
        price: Price::new(d(price)).expect("valid"),
        at: Utc::now(),
    })
}

async fn balances(store: &PgStore, account: AccountId) -> (Money, Money) {
    let a = AccountStore::get(store, account).await.expect("read").expect("exists");
    (a.cash, a.held)
}

fn all() -> OrderFilter {
    OrderFilter { status: StatusFilter::All, symbol: None }
}

#[tokio::test]
async fn a_resting_limit_buy_holds_cash_and_cancel_returns_it_exactly() {
    let env = env().await;
    let account = customer(&env.store).await.id;
    deposit(&env.store, account, "1000").await;

    let placed = env
        .store
        .place(&limit_buy(account, "AAPL", "3", "100.25"), money("300.75"), &AfterPlace::Rest)
        .await
        .expect("enough buying power");
    assert_eq!((placed.status, placed.held_cash), (OrderStatus::New, money("300.75")));
    assert_eq!(balances(&env.store, account).await, (money("1000"), money("300.75")));
    assert_eq!(OrderStore::get(&env.store, placed.id).await.expect("read"), Some(placed.clone()));

    // Another account cannot cancel it, and cannot even tell it exists.
    let stranger = customer(&env.store).await.id;
    let err = env.store.cancel(stranger, placed.id, Utc::now()).await;
    assert!(matches!(err, Err(CancelStoreError::NotFound)), "{err:?}");

    let canceled = env.store.cancel(account, placed.id, Utc::now()).await.expect("open order cancels");
    assert_eq!((canceled.status, canceled.held_cash), (OrderStatus::Canceled, Money::ZERO));
    assert!(canceled.canceled_at.is_some());
    assert_eq!(balances(&env.store, account).await, (money("1000"), money("0")));
    assert_eq!(OrderStore::get(&env.store, placed.id).await.expect("read"), Some(canceled));

    let again = env.store.cancel(account, placed.id, Utc::now()).await;
    assert!(
        matches!(again, Err(CancelStoreError::Rejected(SettlementError::Transition(TransitionError::NotOpen)))),
        "{again:?}"
    );
    let unknown = env.store.cancel(account, OrderId::from_uuid(Uuid::now_v7()), Utc::now()).await;
    assert!(matches!(unknown, Err(CancelStoreError::NotFound)), "{unknown:?}");
    assert_sound(&env.store).await;
}

#[tokio::test]
async fn a_reused_client_order_id_is_refused_and_nothing_of_it_is_stored() {
    let env = env().await;
    let account = customer(&env.store).await.id;
    deposit(&env.store, account, "1000").await;

    let first = with_client_id(limit_buy(account, "AAPL", "1", "100"), "my-1");
    env.store.place(&first, money("100"), &AfterPlace::Rest).await.expect("first use");
    let second = with_client_id(limit_buy(account, "MSFT", "2", "100"), "my-1");
    let err = env.store.place(&second, money("200"), &AfterPlace::Rest).await;
    assert!(matches!(err, Err(StoreOrderError::DuplicateClientOrderId)), "{err:?}");

    assert_eq!(balances(&env.store, account).await, (money("1000"), money("100")));
    assert!(OrderStore::get(&env.store, second.id).await.expect("read").is_none());
    let page =
        OrderStore::list(&env.store, Some(account), &all(), &PageRequest::first(10).unwrap()).await.expect("read");
    assert_eq!(page.items.iter().map(|o| o.id).collect::<Vec<_>>(), vec![first.id]);
    let cid = ClientOrderId::parse("my-1").unwrap();
    let found = env.store.get_by_client_id(account, &cid).await.expect("read").expect("stored");
    assert_eq!(found.id, first.id);

    // Client ids are per account: another account may use the same one.
    let other = customer(&env.store).await.id;
    deposit(&env.store, other, "100").await;
    env.store
        .place(&with_client_id(limit_buy(other, "AAPL", "1", "100"), "my-1"), money("100"), &AfterPlace::Rest)
        .await
        .expect("another account's namespace");
    assert_sound(&env.store).await;
}

#[tokio::test]
async fn a_market_buy_fills_into_a_position_and_a_full_sell_closes_it() {
    let env = env().await;
    let account = customer(&env.store).await.id;
    deposit(&env.store, account, "2000").await;
    let aapl = Symbol::parse("AAPL").unwrap();

    let buy = order(account, Side::Buy, OrderType::Market, "AAPL", "10");
    let filled = env.store.place(&buy, money("1001"), &fill("10", "100.1")).await.expect("fills");
    assert_eq!(
        (filled.status, filled.filled_qty, filled.filled_avg_price),
        (OrderStatus::Filled, d("10"), Some(d("100.1")))
    );
    assert_eq!(balances(&env.store, account).await, (money("999"), money("0")));
    let position = PositionStore::get(&env.store, account, &aapl).await.expect("read").expect("bought");
    assert_eq!((position.qty, position.held, position.cost_basis), (d("10"), d("0"), money("1001")));

    let fills = env
        .store
        .activities(account, &ActivityFilter { kind: Some(ActivityKind::Fill) }, &PageRequest::first(10).unwrap())
        .await
        .expect("read")
        .items;
    assert_eq!(fills.len(), 1);
    assert_eq!(fills[0].amount, money("-1001"));
    let trade = fills[0].trade.as_ref().expect("a fill names its trade");
    assert_eq!(
        (trade.order_id, trade.side, trade.qty.get(), trade.price.get()),
        (buy.id, Side::Buy, d("10"), d("100.1"))
    );

    // No short selling: more than the position is refused and changes nothing.
    let too_many = order(account, Side::Sell, OrderType::Market, "AAPL", "10.000000001");
    let err = env.store.place(&too_many, Money::ZERO, &fill("10.000000001", "99.9")).await;
    assert!(matches!(err, Err(StoreOrderError::Rejected(SettlementError::InsufficientPosition))), "{err:?}");
    assert_eq!(PositionStore::get(&env.store, account, &aapl).await.expect("read"), Some(position));

    let sell = order(account, Side::Sell, OrderType::Market, "AAPL", "10");
    let sold = env.store.place(&sell, Money::ZERO, &fill("10", "99.9")).await.expect("owns the shares");
    assert_eq!(sold.status, OrderStatus::Filled);
    assert_eq!(balances(&env.store, account).await, (money("1998"), money("0")));
    assert!(
        PositionStore::get(&env.store, account, &aapl).await.expect("read").is_none(),
        "a position at zero is deleted"
    );
    assert_sound(&env.store).await;
}

/// A buy that rests locks the account alone (`placing_changes_position`): the position beside
/// it stays exactly as it was, and the next fill still books onto the real row.
#[tokio::test]
async fn a_resting_buy_leaves_the_position_it_holds_as_it_was() {
    let env = env().await;
    let account = customer(&env.store).await.id;
    deposit(&env.store, account, "5000").await;
    let aapl = Symbol::parse("AAPL").unwrap();
    let bought = order(account, Side::Buy, OrderType::Market, "AAPL", "10");
    env.store.place(&bought, money("1000"), &fill("10", "100")).await.expect("fills");
    let before = PositionStore::get(&env.store, account, &aapl).await.expect("read").expect("bought");

    for after in [AfterPlace::Rest, AfterPlace::Cancel(Utc::now())] {
        env.store.place(&limit_buy(account, "AAPL", "2", "90"), money("180"), &after).await.expect("placed");
        assert_eq!(PositionStore::get(&env.store, account, &aapl).await.expect("read"), Some(before.clone()));
    }
    let more = order(account, Side::Buy, OrderType::Market, "AAPL", "5");
    env.store.place(&more, money("500"), &fill("5", "100")).await.expect("fills");
    let after = PositionStore::get(&env.store, account, &aapl).await.expect("read").expect("held");
    assert_eq!((after.qty, after.cost_basis), (d("15"), money("1500")));
    assert_eq!(balances(&env.store, account).await, (money("3500"), money("180")));
    assert_sound(&env.store).await;
}

#[tokio::test]
async fn a_resting_sell_holds_shares_until_canceled_and_an_ioc_cancel_holds_nothing() {
    let env = env().await;
    let account = customer(&env.store).await.id;
    deposit(&env.store, account, "1000").await;
    let msft = Symbol::parse("MSFT").unwrap();
    env.store
        .place(&order(account, Side::Buy, OrderType::Market, "MSFT", "4"), money("400"), &fill("4", "100"))
        .await
        .expect("bought");

    let mut sell = order(account, Side::Sell, OrderType::Limit, "MSFT", "3");
    sell.limit_price = Some(Price::new(d("150")).unwrap());
    let resting = env.store.place(&sell, Money::ZERO, &AfterPlace::Rest).await.expect("owns the shares");
    assert_eq!(PositionStore::get(&env.store, account, &msft).await.expect("read").map(|p| p.held), Some(d("3")));
    let err = env
        .store
        .place(&order(account, Side::Sell, OrderType::Market, "MSFT", "2"), Money::ZERO, &fill("2", "100"))
        .await;
    assert!(
        matches!(err, Err(StoreOrderError::Rejected(SettlementError::InsufficientPosition))),
        "held shares are not for sale twice"
    );
    env.store.cancel(account, resting.id, Utc::now()).await.expect("cancels");
    assert_eq!(PositionStore::get(&env.store, account, &msft).await.expect("read").map(|p| p.held), Some(d("0")));

    let ioc = limit_buy(account, "MSFT", "1", "90");
    let canceled = env.store.place(&ioc, Money::ZERO, &AfterPlace::Cancel(Utc::now())).await.expect("stored");
    assert_eq!(canceled.status, OrderStatus::Canceled);
    assert_eq!(balances(&env.store, account).await, (money("600"), money("0")));
    assert_sound(&env.store).await;
}

#[tokio::test]
async fn an_unknown_account_cannot_place() {
    let env = env().await;
    let ghost = AccountId::from_uuid(Uuid::now_v7());
    let err = env.store.place(&limit_buy(ghost, "AAPL", "1", "1"), money("1"), &AfterPlace::Rest).await;
    assert!(matches!(err, Err(StoreOrderError::AccountNotFound)), "{err:?}");
    assert_sound(&env.store).await;
}

#[tokio::test]
async fn orders_list_newest_first_by_page_and_filter() {
    let env = env().await;
    let account = customer(&env.store).await.id;
    deposit(&env.store, account, "1000").await;
    let mut ids = Vec::new();
    for symbol in ["AAPL", "MSFT", "AAPL"] {
        let o = env.store.place(&limit_buy(account, symbol, "1", "10"), money("10"), &AfterPlace::Rest).await.unwrap();
        ids.push(o.id);
    }
    env.store.cancel(account, ids[0], Utc::now()).await.expect("cancels");
    let other = customer(&env.store).await.id;
    deposit(&env.store, other, "10").await;
    env.store.place(&limit_buy(other, "AAPL", "1", "10"), money("10"), &AfterPlace::Rest).await.unwrap();

    let list = |filter: OrderFilter, page: PageRequest<OrderId>| {
        let store = env.store.clone();
        async move { OrderStore::list(&store, Some(account), &filter, &page).await.expect("read") }
    };
    let first = list(all(), PageRequest::first(2).unwrap()).await;
    assert_eq!(first.items.iter().map(|o| o.id).collect::<Vec<_>>(), vec![ids[2], ids[1]]);
    let rest = list(all(), PageRequest::new(Some(2), first.next_cursor).unwrap()).await;
    assert_eq!((rest.items.iter().map(|o| o.id).collect::<Vec<_>>(), rest.next_cursor), (vec![ids[0]], None));

    let open = list(OrderFilter::default(), PageRequest::first(10).unwrap()).await;
    assert_eq!(open.items.iter().map(|o| o.id).collect::<Vec<_>>(), vec![ids[2], ids[1]]);
    let closed =
        list(OrderFilter { status: StatusFilter::Closed, symbol: None }, PageRequest::first(10).unwrap()).await;
    assert_eq!(closed.items.iter().map(|o| o.id).collect::<Vec<_>>(), vec![ids[0]]);
    let aapl = OrderFilter { status: StatusFilter::All, symbol: Some(Symbol::parse("AAPL").unwrap()) };
    let by_symbol = list(aapl, PageRequest::first(10).unwrap()).await;
    assert_eq!(by_symbol.items.iter().map(|o| o.id).collect::<Vec<_>>(), vec![ids[2], ids[0]]);

    let everyone = OrderStore::list(&env.store, None, &all(), &PageRequest::first(10).unwrap()).await.expect("read");
    assert_eq!(everyone.items.len(), 4);
    assert_sound(&env.store).await;
}

#[tokio::test]
async fn positions_page_by_symbol() {
    let env = env().await;
    let account = customer(&env.store).await.id;
    deposit(&env.store, account, "1000").await;
    for symbol in ["MSFT", "AAPL", "BRK.B"] {
        env.store
            .place(&order(account, Side::Buy, OrderType::Market, symbol, "1"), money("10"), &fill("1", "10"))
            .await
            .expect("bought");
    }
    let first = PositionStore::list(&env.store, account, &PageRequest::first(2).unwrap()).await.expect("read");
    let symbols =
        |p: &[brokerage_domain::positions::Position]| p.iter().map(|p| p.symbol.to_string()).collect::<Vec<_>>();
    assert_eq!(symbols(&first.items), vec!["AAPL", "BRK.B"]);
    let rest = PositionStore::list(&env.store, account, &PageRequest::new(Some(2), first.next_cursor).unwrap())
        .await
        .expect("read");
    assert_eq!((symbols(&rest.items), rest.next_cursor), (vec!["MSFT".to_owned()], None));
    let (held_by, all) = env.store.book(account).await.expect("read").expect("the account exists");
    assert_eq!((held_by.id, symbols(&all)), (account, vec!["AAPL".into(), "BRK.B".into(), "MSFT".into()]));
    assert!(env.store.book(AccountId::from_uuid(Uuid::now_v7())).await.expect("read").is_none());
    assert_sound(&env.store).await;
}
