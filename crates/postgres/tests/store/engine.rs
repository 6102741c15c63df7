//! The execution engine's store: what one engine step writes, and that concurrent engines
//! (and a concurrent cancel) never book an order twice.

use crate::common::{assert_sound, count, customer, d, deposit, env, fill_now, limit_buy, money, order, quote, tick};
use brokerage_domain::accounts::{AccountStore, ActivityFilter, ActivityKind, LedgerStore};
use brokerage_domain::market::Symbol;
use brokerage_domain::orders::settlement::SettlementError;
use brokerage_domain::orders::{
    AfterPlace, CancelStoreError, Candidates, EventKind, EventStore, ExecutionStore, FeeSchedule, Order, OrderStatus,
    OrderStore, OrderType, Side, TimeInForce, TransitionError,
};
use brokerage_domain::positions::{Lot, PositionStore};
use brokerage_domain::{Money, PageRequest, Price};
use brokerage_postgres::PgStore;
use chrono::Utc;
use std::collections::HashSet;
use tokio::task::JoinSet;

fn fees(per_share: &str, minimum: &str) -> FeeSchedule {
    FeeSchedule { per_share: d(per_share), minimum: money(minimum) }
}

#[tokio::test]
async fn an_engine_fill_writes_the_order_balances_lots_ledger_journal_fill_and_events() {
    let env = env().await;
    let account = customer(&env.store).await.id;
    deposit(&env.store, account, "5000").await;
    let aapl = Symbol::parse("AAPL").unwrap();

    let placed =
        env.store.place(&limit_buy(account, "AAPL", "10", "100"), money("1000"), &AfterPlace::Rest).await.unwrap();
    assert_eq!(env.store.open_symbols().await.unwrap(), vec![aapl.clone()]);
    let touching = Candidates::new(Some(&quote("AAPL", "99", "99.5")), None);
    let open = env.store.open_orders(&aapl, &touching, None, 10).await.unwrap();
    assert_eq!(open, vec![placed.clone()]);
    assert!(env.store.open_orders(&aapl, &touching, Some(placed.id), 10).await.unwrap().is_empty());
    let far = Candidates::new(Some(&quote("AAPL", "100.5", "101")), None);
    assert!(env.store.open_orders(&aapl, &far, None, 10).await.unwrap().is_empty(), "an ask above the limit");

    // Not marketable yet: nothing changes, nothing is written.
    let hold = env.store.execute(placed.id, &tick(Some(quote("AAPL", "100.5", "101")), fees("0", "0"))).await;
    let hold = hold.unwrap().expect("not locked by anyone");
    assert!(hold.is_empty());
    assert_eq!(OrderStore::get(&env.store, placed.id).await.unwrap(), Some(placed.clone()));

    // The ask comes down to 99.5: the buy fills at the ask, with a 1.00 minimum commission.
    let step = tick(Some(quote("AAPL", "99", "99.5")), fees("0.005", "1"));
    let booking = env.store.execute(placed.id, &step).await.unwrap().expect("not locked by anyone");
    assert_eq!(booking.executions.len(), 1);
    let filled = OrderStore::get(&env.store, placed.id).await.unwrap().expect("stored");
    assert_eq!((filled.status, filled.filled_qty, filled.fill_seq), (OrderStatus::Filled, d("10"), 1));
    assert_eq!((filled.held_cash, filled.filled_avg_price), (Money::ZERO, Some(d("99.5"))));

    let acct = AccountStore::get(&env.store, account).await.unwrap().unwrap();
    assert_eq!((acct.cash, acct.held, acct.event_seq), (money("4004"), money("0"), 2));
    let position = PositionStore::get(&env.store, account, &aapl).await.unwrap().expect("bought");
    assert_eq!((position.qty, position.cost_basis), (d("10"), money("995")));
    assert_eq!(position.lots, vec![Lot { qty: d("10"), cost: money("995") }]);

    let ledger = env.store.activities(account, &ActivityFilter::default(), &PageRequest::first(10).unwrap()).await;
    let kinds: Vec<_> = ledger.unwrap().items.iter().map(|a| (a.kind, a.amount)).collect();
    assert_eq!(
        kinds,
        vec![
            (ActivityKind::Fee, money("-1")),
            (ActivityKind::Fill, money("-995")),
            (ActivityKind::Deposit, money("5000"))
        ]
    );
    // One fill row; three journal entries (2 + 4 + 2 legs), each balanced per asset.
    let fills = "SELECT count(*)::text AS value FROM fills WHERE seq = 1 AND qty = 10 AND price = 99.5";
    assert_eq!(count(&env.db, fills).await, 1);
    assert_eq!(count(&env.db, "SELECT count(*)::text AS value FROM journal_postings").await, 8);
    let unbalanced = "SELECT count(*)::text AS value FROM (SELECT 1 FROM journal_postings \
                      GROUP BY activity_id, asset HAVING sum(amount) <> 0) u";
    assert_eq!(count(&env.db, unbalanced).await, 0);

    // Events: new, then fill, numbered 1, 2, with the order as it stood each time.
    let events = env.store.events_after(account, 0, 10).await.unwrap();
    let summary: Vec<_> = events.iter().map(|e| (e.seq, e.kind, e.order.status, e.fill.map(|f| f.qty.get()))).collect();
    assert_eq!(
        summary,
        vec![(1, EventKind::New, OrderStatus::New, None), (2, EventKind::Fill, OrderStatus::Filled, Some(d("10")))]
    );
    assert_eq!(events[0].order.held_cash, money("1000"));
    assert_eq!(events[1].order, filled);
    assert_eq!(env.store.last_event_seq(account).await.unwrap(), 2);
    assert!(env.store.open_symbols().await.unwrap().is_empty());

    // A closed order is left alone: an empty booking, no second fill.
    let again = env.store.execute(placed.id, &tick(Some(quote("AAPL", "1", "1")), fees("0", "0"))).await.unwrap();
    assert!(again.expect("not locked").is_empty());
    assert_eq!(count(&env.db, "SELECT count(*)::text AS value FROM fills").await, 1);
    assert_sound(&env.store).await;
}

#[tokio::test]
async fn sells_realise_fifo_profit_and_trigger_state_and_expiry_are_stored() {
    let env = env().await;
    let account = customer(&env.store).await.id;
    deposit(&env.store, account, "10000").await;
    let aapl = Symbol::parse("AAPL").unwrap();
    for price in ["100", "200"] {
        let buy = order(account, Side::Buy, OrderType::Market, "AAPL", "10");
        env.store.place(&buy, money("2000"), &fill_now("10", price, "0")).await.expect("bought");
    }
    let position = PositionStore::get(&env.store, account, &aapl).await.unwrap().unwrap();
    assert_eq!(position.lots.len(), 2);

    // 15 sold at 300: FIFO cost 10×100 + 5×200 = 2000 against 4500 of proceeds.
    let sell = order(account, Side::Sell, OrderType::Market, "AAPL", "15");
    env.store.place(&sell, Money::ZERO, &fill_now("15", "300", "0")).await.expect("owns the shares");
    assert_eq!(env.store.realized_pl(account).await.unwrap(), money("2500"));
    let position = PositionStore::get(&env.store, account, &aapl).await.unwrap().unwrap();
    assert_eq!(position.lots, vec![Lot { qty: d("5"), cost: money("1000") }]);

    // A trailing stop sell: a higher bid moves its mark (stored), no trade.
    let mut trailing = order(account, Side::Sell, OrderType::TrailingStop, "AAPL", "5");
    trailing.trail_percent = Some(d("10"));
    let trailing = env.store.place(&trailing, Money::ZERO, &AfterPlace::Rest).await.unwrap();
    let moved = env.store.execute(trailing.id, &tick(Some(quote("AAPL", "300", "301")), fees("0", "0"))).await;
    assert!(!moved.unwrap().unwrap().is_empty());
    let stored = OrderStore::get(&env.store, trailing.id).await.unwrap().unwrap();
    assert_eq!(
        (stored.hwm, stored.stop_price),
        (Some(Price::new(d("300")).unwrap()), Some(Price::new(d("270")).unwrap()))
    );
    assert_eq!(stored.status, OrderStatus::New);

    // Its session ends: it expires and gives its shares back.
    let mut end = tick(None, fees("0", "0"));
    end.expire = true;
    env.store.execute(trailing.id, &end).await.unwrap().unwrap();
    let expired = OrderStore::get(&env.store, trailing.id).await.unwrap().unwrap();
    assert_eq!(expired.status, OrderStatus::Expired);
    assert!(expired.expired_at.is_some());
    let position = PositionStore::get(&env.store, account, &aapl).await.unwrap().unwrap();
    assert_eq!((position.qty, position.held), (d("5"), d("0")));
    // Moving a trailing mark is no trade update: no event for it.
    let kinds: Vec<_> = env.store.events_after(account, 0, 100).await.unwrap().iter().map(|e| e.kind).collect();
    let trades = [EventKind::New, EventKind::Fill].repeat(3);
    assert_eq!(kinds, [trades, vec![EventKind::New, EventKind::Expired]].concat());
    assert_sound(&env.store).await;
}

/// Places `n` resting limit buys at 100 for each of `accounts` fresh accounts.
async fn resting_buys(store: &PgStore, accounts: usize, n: usize) -> Vec<Order> {
    let mut orders = Vec::new();
    for _ in 0..accounts {
        let account = customer(store).await.id;
        deposit(store, account, "100000").await;
        for _ in 0..n {
            let o = store.place(&limit_buy(account, "MSFT", "2", "100"), money("200"), &AfterPlace::Rest).await;
            orders.push(o.expect("affordable"));
        }
    }
    orders
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_engines_on_separate_pools_fill_each_triggered_order_exactly_once() {
    let env = env().await;
    let orders = resting_buys(&env.store, 4, 10).await;
    let ids: Vec<_> = orders.iter().map(|o| o.id).collect();

    // Two "instances", each with its own pool, each running two workers over the same book
    // in the same order: maximal contention on every order.
    let mut workers = JoinSet::new();
    for _ in 0..2 {
        let store = PgStore::new(env.db.pool().await);
        for _ in 0..2 {
            let (store, ids) = (store.clone(), ids.clone());
            workers.spawn(async move {
                let mut booked = Vec::new();
                let mut skipped = 0;
                for id in ids {
                    let step = tick(Some(quote("MSFT", "98", "99")), FeeSchedule::default());
                    match store.execute(id, &step).await.expect("execute") {
                        Some(b) => booked.extend(b.executions.iter().map(|e| (e.order_id, e.seq))),
                        None => skipped += 1,
                    }
                }
                (booked, skipped)
            });
        }
    }
    let mut fills = Vec::new();
    while let Some(done) = workers.join_next().await {
        fills.extend(done.expect("worker ran").0);
    }
    // Skipped orders were worked by another worker; whatever a worker booked, nobody else did.
    let unique: HashSet<_> = fills.iter().copied().collect();
    assert_eq!((fills.len(), unique.len()), (ids.len(), ids.len()), "each order filled exactly once");
    assert_eq!(count(&env.db, "SELECT count(*)::text AS value FROM fills").await, 40);
    let filled = "SELECT count(*)::text AS value FROM orders WHERE status = 'filled' AND fill_seq = 1";
    assert_eq!(count(&env.db, filled).await, 40);
    assert!(env.store.open_symbols().await.unwrap().is_empty());
    assert_sound(&env.store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cancel_racing_the_engine_on_the_same_order_leaves_exactly_one_winner() {
    let env = env().await;
    let orders = resting_buys(&env.store, 2, 15).await;
    let engine = PgStore::new(env.db.pool().await);

    let mut races = JoinSet::new();
    for o in &orders {
        let (store, engine, o) = (env.store.clone(), engine.clone(), o.clone());
        races.spawn(async move {
            let step = tick(Some(quote("MSFT", "98", "99")), FeeSchedule::default());
            let (canceled, executed) =
                tokio::join!(store.cancel(o.account_id, o.id, Utc::now()), engine.execute(o.id, &step));
            (o, canceled, executed.expect("execute"))
        });
    }
    let (mut cancels, mut fills) = (0, 0);
    while let Some(race) = races.join_next().await {
        let (o, canceled, executed) = race.expect("ran");
        let executed = executed.is_some_and(|b| !b.executions.is_empty());
        let stored = OrderStore::get(&env.store, o.id).await.unwrap().unwrap();
        match canceled {
            Ok(c) => {
                assert!(!executed, "{o:?} was canceled and filled");
                assert_eq!((c.status, stored.status), (OrderStatus::Canceled, OrderStatus::Canceled));
                cancels += 1;
            }
            Err(CancelStoreError::Rejected(SettlementError::Transition(TransitionError::NotOpen))) => {
                assert!(executed, "{o:?}: the cancel lost to a fill that did not happen");
                assert_eq!(stored.status, OrderStatus::Filled);
                fills += 1;
            }
            Err(other) => panic!("unexpected cancel error {other:?}"),
        }
        assert_eq!(stored.held_cash, Money::ZERO);
    }
    assert_eq!(cancels + fills, orders.len());
    assert_eq!(count(&env.db, "SELECT count(*)::text AS value FROM fills").await, i64::try_from(fills).unwrap());
    // Every hold went back exactly: nothing is held, and cash paid only for the fills.
    let held = "SELECT count(*)::text AS value FROM accounts WHERE held <> 0";
    assert_eq!(count(&env.db, held).await, 0);
    let paid = "SELECT (200000 - sum(cash))::text AS value FROM accounts";
    assert_eq!(
        env.db.texts(paid).await.unwrap()[0].as_deref().map(d),
        Some(d("198") * rust_decimal::Decimal::from(fills))
    );
    assert_sound(&env.store).await;
}

/// The engine reads only what a quote can touch: the store's SQL filter must select exactly the
/// orders `Candidates::may_act` names, for every kind of order, side and trigger state.
#[tokio::test]
async fn the_candidate_filter_in_sql_agrees_with_may_act_order_by_order() {
    let env = env().await;
    let account = customer(&env.store).await.id;
    deposit(&env.store, account, "100000").await;
    let aapl = Symbol::parse("AAPL").unwrap();
    let price = |s: &str| Some(Price::new(d(s)).unwrap());
    // Shares to sell.
    env.store
        .place(&limit_buy(account, "AAPL", "100", "10"), money("1000"), &fill_now("100", "10", "0"))
        .await
        .unwrap();

    let mut placed = Vec::new();
    // side, type, limit, stop, trail %, time in force
    type Kind<'a> = (Side, OrderType, Option<&'a str>, Option<&'a str>, Option<&'a str>, TimeInForce);
    let kinds: [Kind<'_>; 11] = [
        (Side::Buy, OrderType::Limit, Some("100"), None, None, TimeInForce::Gtc),
        (Side::Buy, OrderType::Limit, Some("90"), None, None, TimeInForce::Day),
        (Side::Sell, OrderType::Limit, Some("110"), None, None, TimeInForce::Gtc),
        (Side::Sell, OrderType::Limit, Some("120"), None, None, TimeInForce::Day),
        (Side::Buy, OrderType::Stop, None, Some("105"), None, TimeInForce::Gtc),
        (Side::Sell, OrderType::Stop, None, Some("95"), None, TimeInForce::Gtc),
        (Side::Buy, OrderType::StopLimit, Some("106"), Some("105"), None, TimeInForce::Gtc),
        (Side::Sell, OrderType::StopLimit, Some("94"), Some("95"), None, TimeInForce::Gtc),
        // Armed below: its stop (105) reached at an ask of 105.5, its limit (104) not.
        (Side::Buy, OrderType::StopLimit, Some("104"), Some("105"), None, TimeInForce::Gtc),
        (Side::Sell, OrderType::TrailingStop, None, None, Some("5"), TimeInForce::Gtc),
        (Side::Buy, OrderType::Market, None, None, None, TimeInForce::Day),
    ];
    for (side, order_type, limit, stop, trail, tif) in kinds {
        let mut o = order(account, side, order_type, "AAPL", "1");
        (o.limit_price, o.stop_price, o.time_in_force) = (limit.and_then(price), stop.and_then(price), tif);
        o.trail_percent = trail.map(d);
        placed.push(env.store.place(&o, money("200"), &AfterPlace::Rest).await.unwrap().id);
    }
    let armed = placed[8];
    let booking = env.store.execute(armed, &tick(Some(quote("AAPL", "105", "105.5")), fees("0", "0"))).await;
    assert!(!booking.unwrap().expect("not locked").is_empty());
    let store = &env.store;
    let stored = |id| async move { OrderStore::get(store, id).await.unwrap().expect("stored") };
    assert!(stored(armed).await.triggered_at.is_some(), "armed, not filled");
    let submitted = stored(placed[0]).await.submitted_at;

    let touches = [None, Some(("99", "99.5")), Some(("100.5", "101")), Some(("103", "103.5")), Some(("105", "105.5"))];
    let touches = touches.into_iter().chain([
        Some(("89", "89.5")),
        Some(("94", "94.5")),
        Some(("110", "111")),
        Some(("121", "122")),
    ]);
    let cutoffs = [None, Some(submitted - chrono::Duration::hours(1)), Some(Utc::now() + chrono::Duration::hours(1))];
    let mut orders = Vec::new();
    for id in &placed {
        orders.push(stored(*id).await);
    }
    let mut checked = 0;
    for touch in touches {
        for cutoff in cutoffs {
            let q = touch.map(|(bid, ask)| quote("AAPL", bid, ask));
            let candidates = Candidates::new(q.as_ref(), cutoff);
            let expected: HashSet<_> = orders.iter().filter(|o| candidates.may_act(o)).map(|o| o.id).collect();
            let got: Vec<_> =
                env.store.open_orders(&aapl, &candidates, None, 100).await.unwrap().into_iter().map(|o| o.id).collect();
            assert_eq!(got.iter().copied().collect::<HashSet<_>>(), expected, "{candidates:?}");
            assert!(got.windows(2).all(|w| w[0] < w[1]), "each order once, by id: {candidates:?}");
            // Pages of two, each from the last id of the one before, read the same orders.
            let mut paged = Vec::new();
            loop {
                let page = env.store.open_orders(&aapl, &candidates, paged.last().copied(), 2).await.unwrap();
                paged.extend(page.iter().map(|o| o.id));
                if page.len() < 2 {
                    break;
                }
            }
            assert_eq!(paged, got, "paged: {candidates:?}");
            checked += usize::from(!expected.is_empty());
        }
    }
    assert!(checked > 10, "the cases select something ({checked})");
}
