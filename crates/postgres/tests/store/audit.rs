//! `LedgerStore::audit` (= scripts/check-invariants.sql): silent on a sound book, and it
//! names what a corrupted row breaks.

use crate::common::{assert_sound, customer, deposit, env, fill_now, limit_buy, money, order};
use brokerage_domain::Money;
use brokerage_domain::accounts::LedgerStore;
use brokerage_domain::orders::{AfterPlace, OrderStore, OrderType, Side};
use chrono::Utc;
use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};

#[tokio::test]
async fn a_sound_book_audits_clean_and_each_corruption_is_reported() {
    let env = env().await;
    let account = customer(&env.store).await.id;
    deposit(&env.store, account, "1000").await;
    let buy = order(account, Side::Buy, OrderType::Market, "AAPL", "4");
    env.store.place(&buy, money("401"), &fill_now("4", "100", "1")).await.expect("bought");
    let sell = order(account, Side::Sell, OrderType::Market, "AAPL", "1");
    env.store.place(&sell, Money::ZERO, &fill_now("1", "110", "1")).await.expect("sold");
    let resting =
        env.store.place(&limit_buy(account, "MSFT", "1", "50"), money("50"), &AfterPlace::Rest).await.unwrap();
    let canceled =
        env.store.place(&limit_buy(account, "MSFT", "1", "50"), money("50"), &AfterPlace::Rest).await.unwrap();
    env.store.cancel(account, canceled.id, Utc::now()).await.unwrap();
    assert_sound(&env.store).await;
    assert_eq!(env.store.realized_pl(account).await.unwrap(), money("10"));

    let mut conn = AsyncPgConnection::establish(env.db.url()).await.expect("connects");
    let corrupt = [
        (format!("UPDATE accounts SET cash = cash + 1 WHERE id = '{account}'"), "holds cash"),
        (format!("UPDATE accounts SET held = held + 1 WHERE id = '{account}'"), "open buys hold"),
        (format!("UPDATE orders SET held_cash = 1 WHERE id = '{}'", canceled.id), "closed order"),
        (format!("UPDATE orders SET fill_seq = 2 WHERE id = '{}'", buy.id), "fills say"),
        (format!("UPDATE positions SET lot_cost = ARRAY[1::numeric] WHERE account_id = '{account}'"), "its lots"),
        (
            format!("UPDATE positions SET qty = qty + 1, lot_qty = ARRAY[qty + 1] WHERE account_id = '{account}'"),
            "ledger says",
        ),
        (
            format!(
                "UPDATE journal_postings SET amount = amount + 1 WHERE book = 'house' AND asset = 'USD' AND activity_id IN (SELECT id FROM activities WHERE order_id = '{}')",
                sell.id
            ),
            "not a balanced entry",
        ),
        (format!("UPDATE accounts SET event_seq = event_seq + 1 WHERE id = '{account}'"), "events up to"),
    ];
    for (sql, expected) in corrupt {
        // One corruption at a time, undone before the next, so they do not mix.
        conn.batch_execute(&sql).await.expect("corrupted");
        let problems = env.store.audit().await.unwrap();
        assert!(problems.iter().any(|p| p.contains(expected)), "{sql}: expected {expected:?} in {problems:#?}");
        undo(&mut conn, &sql).await;
        assert_sound(&env.store).await;
    }
    assert!(OrderStore::get(&env.store, resting.id).await.unwrap().is_some());
}

/// Reverts one of the corruptions above.
async fn undo(conn: &mut AsyncPgConnection, sql: &str) {
    let inverse = sql
        .replace("cash = cash + 1", "cash = cash - 1")
        .replace("held = held + 1", "held = held - 1")
        .replace("held_cash = 1", "held_cash = 0")
        .replace("fill_seq = 2", "fill_seq = 1")
        .replace("lot_cost = ARRAY[1::numeric]", "lot_cost = ARRAY[cost_basis]")
        .replace("qty = qty + 1, lot_qty = ARRAY[qty + 1]", "qty = qty - 1, lot_qty = ARRAY[qty - 1]")
        .replace("amount = amount + 1", "amount = amount - 1")
        .replace("event_seq = event_seq + 1", "event_seq = event_seq - 1");
    conn.batch_execute(&inverse).await.expect("undone");
}
