use crate::common::{env, new_user};
use brokerage_domain::accounts::AccountStore;
use brokerage_domain::users::{CreateUserError, Email, PasswordHash, UserStore};
use chrono::SubsecRound;

#[tokio::test]
async fn a_user_and_its_account_are_stored_together_and_read_back() {
    let env = env().await;
    let (mut user, mut account) = new_user("Ann@Example.com");
    env.store.create_with_account(&user, &PasswordHash::new("$argon2id$ann".into()), &account).await.expect("created");
    // Postgres keeps microseconds.
    user.created_at = user.created_at.trunc_subsecs(6);
    account.created_at = account.created_at.trunc_subsecs(6);

    assert_eq!(UserStore::get(&env.store, user.id).await.expect("read").as_ref(), Some(&user));
    assert_eq!(AccountStore::get(&env.store, account.id).await.expect("read"), Some(account.clone()));
    let creds = env
        .store
        .credentials_by_email(&Email::parse("ann@example.com").expect("valid"))
        .await
        .expect("read")
        .expect("registered");
    assert_eq!((creds.user, creds.account_id), (user, account.id));
    assert_eq!(creds.password_hash.as_str(), "$argon2id$ann");
    let unknown = Email::parse("bob@example.com").expect("valid");
    assert!(env.store.credentials_by_email(&unknown).await.expect("read").is_none());
}

#[tokio::test]
async fn an_e_mail_registers_once_and_the_loser_stores_nothing() {
    let env = env().await;
    let hash = PasswordHash::new("$argon2id$x".into());
    let (first, first_account) = new_user("same@example.com");
    env.store.create_with_account(&first, &hash, &first_account).await.expect("first registers");

    let (second, second_account) = new_user("SAME@example.com");
    let err = env.store.create_with_account(&second, &hash, &second_account).await;
    assert!(matches!(err, Err(CreateUserError::EmailTaken)), "{err:?}");
    assert!(UserStore::get(&env.store, second.id).await.expect("read").is_none());
    assert!(AccountStore::get(&env.store, second_account.id).await.expect("read").is_none());
}
