use crate::common::{assert_sound, customer, d, deposit, env, money};
use brokerage_domain::accounts::{
    AccountStore, Activity, ActivityFilter, ActivityKind, CashError, LedgerStore, MoveCashError,
};
use brokerage_domain::{AccountId, ActivityId, Amount, PageRequest};
use chrono::Utc;
use uuid::Uuid;

fn withdrawal(account: AccountId, amount: &str) -> Activity {
    Activity::withdrawal(
        ActivityId::from_uuid(Uuid::now_v7()),
        account,
        Amount::new(d(amount)).expect("valid"),
        Utc::now(),
    )
}

#[tokio::test]
async fn deposits_and_withdrawals_move_cash_and_a_refused_withdrawal_changes_nothing() {
    let env = env().await;
    let account = customer(&env.store).await;

    assert_eq!(deposit(&env.store, account.id, "100.25").await.cash, money("100.25"));
    let after = env.store.move_cash(&withdrawal(account.id, "30")).await.expect("enough cash");
    assert_eq!(after.cash, money("70.25"));

    let refused = env.store.move_cash(&withdrawal(account.id, "70.2501")).await;
    assert!(matches!(refused, Err(MoveCashError::Rejected(CashError::Insufficient))), "{refused:?}");
    let stored = AccountStore::get(&env.store, account.id).await.expect("read").expect("exists");
    assert_eq!((stored.cash, stored.held), (money("70.25"), money("0")));

    // The ledger holds the two accepted movements, newest first, and nothing of the refusal.
    let all = env.store.activities(account.id, &ActivityFilter::default(), &PageRequest::first(10).unwrap()).await;
    let kinds: Vec<_> = all.expect("read").items.iter().map(|a| (a.kind, a.amount)).collect();
    assert_eq!(kinds, vec![(ActivityKind::Withdrawal, money("-30")), (ActivityKind::Deposit, money("100.25"))]);
    assert_sound(&env.store).await;
}

#[tokio::test]
async fn moving_cash_of_an_unknown_account_is_not_found() {
    let env = env().await;
    let ghost = AccountId::from_uuid(Uuid::now_v7());
    let err = env.store.move_cash(&withdrawal(ghost, "1")).await;
    assert!(matches!(err, Err(MoveCashError::NotFound)), "{err:?}");
    assert_sound(&env.store).await;
}

#[tokio::test]
async fn activities_page_newest_first_and_filter_by_kind() {
    let env = env().await;
    let account = customer(&env.store).await;
    for amount in ["1", "2", "3"] {
        deposit(&env.store, account.id, amount).await;
    }
    env.store.move_cash(&withdrawal(account.id, "1")).await.expect("enough cash");

    let first = env
        .store
        .activities(account.id, &ActivityFilter::default(), &PageRequest::first(3).unwrap())
        .await
        .expect("read");
    let amounts: Vec<_> = first.items.iter().map(|a| a.amount).collect();
    assert_eq!(amounts, vec![money("-1"), money("3"), money("2")]);
    let cursor = first.next_cursor.expect("a fourth activity exists");
    let rest = env
        .store
        .activities(account.id, &ActivityFilter::default(), &PageRequest::new(Some(3), Some(cursor)).unwrap())
        .await
        .expect("read");
    assert_eq!((rest.items.len(), rest.items[0].amount, rest.next_cursor), (1, money("1"), None));

    let deposits = env
        .store
        .activities(account.id, &ActivityFilter { kind: Some(ActivityKind::Deposit) }, &PageRequest::first(10).unwrap())
        .await
        .expect("read");
    assert_eq!(deposits.items.len(), 3);
    assert!(deposits.items.iter().all(|a| a.kind == ActivityKind::Deposit));
    assert_sound(&env.store).await;
}
