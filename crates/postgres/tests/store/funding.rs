//! `AccountStore::credit_funding`: a funding provider's deposit is credited once per event.

use crate::common::{assert_sound, count, customer, d, env, money};
use brokerage_domain::accounts::{AccountStore, Activity, MoveCashError};
use brokerage_domain::{AccountId, ActivityId, Amount};
use chrono::Utc;
use uuid::Uuid;

fn deposit_of(account: AccountId, amount: &str) -> Activity {
    Activity::deposit(ActivityId::from_uuid(Uuid::now_v7()), account, Amount::new(d(amount)).unwrap(), Utc::now())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_event_delivered_twice_at_once_is_credited_once() {
    let env = env().await;
    let account = customer(&env.store).await.id;

    // The provider retries: two deliveries of one event race (each with its own activity id,
    // as two requests would make).
    let (a, b) = (deposit_of(account, "250"), deposit_of(account, "250"));
    let (first, second) = tokio::join!(env.store.credit_funding("evt_1", &a), env.store.credit_funding("evt_1", &b));
    let mut outcomes = [first.expect("credited or known"), second.expect("credited or known")];
    outcomes.sort();
    assert_eq!(outcomes, [false, true]);
    assert_eq!(AccountStore::get(&env.store, account).await.unwrap().unwrap().cash, money("250"));
    assert_eq!(count(&env.db, "SELECT count(*)::text AS value FROM activities").await, 1);
    assert_eq!(count(&env.db, "SELECT count(*)::text AS value FROM journal_postings").await, 2);

    // Later deliveries change nothing; another event credits again.
    assert!(!env.store.credit_funding("evt_1", &deposit_of(account, "250")).await.unwrap());
    assert!(env.store.credit_funding("evt_2", &deposit_of(account, "0.5")).await.unwrap());
    assert_eq!(AccountStore::get(&env.store, account).await.unwrap().unwrap().cash, money("250.5"));
    assert_sound(&env.store).await;
}

#[tokio::test]
async fn an_unknown_account_is_not_found_and_claims_no_event() {
    let env = env().await;
    let ghost = AccountId::from_uuid(Uuid::now_v7());
    let err = env.store.credit_funding("evt_x", &deposit_of(ghost, "1")).await;
    assert!(matches!(err, Err(MoveCashError::NotFound)), "{err:?}");
    assert_eq!(count(&env.db, "SELECT count(*)::text AS value FROM funding_events").await, 0);
}
