use brokerage_domain::accounts::{Account, AccountStore, Activity, LedgerStore};
use brokerage_domain::market::{Quote, Symbol};
use brokerage_domain::orders::settlement::Fill;
use brokerage_domain::orders::{AfterPlace, ClientOrderId, FeeSchedule, Order, OrderType, Side, Tick, TimeInForce};
use brokerage_domain::users::{Email, PasswordHash, Role, User, UserStatus, UserStore};
use brokerage_domain::{AccountId, ActivityId, Amount, Money, OrderId, Price, Quantity, UserId};
use brokerage_postgres::test_support::TestDatabase;
use brokerage_postgres::{PgPool, PgStore};
use chrono::Utc;
use rust_decimal::Decimal;
use std::str::FromStr;
use uuid::Uuid;

/// One test's database and a store on it. Keep it alive for the whole test.
pub struct Env {
    pub store: PgStore,
    pub pool: PgPool,
    pub db: TestDatabase,
}

pub async fn env() -> Env {
    let db = TestDatabase::new().await.expect("a test database (is DATABASE_URL set?)");
    let pool = db.pool().await;
    Env { store: PgStore::new(pool.clone()), pool, db }
}

pub fn d(s: &str) -> Decimal {
    Decimal::from_str(s).expect("decimal literal")
}

pub fn money(s: &str) -> Money {
    Money::new(d(s)).expect("valid money")
}

pub fn new_user(email: &str) -> (User, Account) {
    let now = Utc::now();
    let user = User {
        id: UserId::from_uuid(Uuid::now_v7()),
        email: Email::parse(email).expect("valid e-mail"),
        role: Role::Customer,
        status: UserStatus::Active,
        totp_enabled: false,
        created_at: now,
    };
    let account = Account::open(AccountId::from_uuid(Uuid::now_v7()), user.id, now);
    (user, account)
}

/// A registered customer's (empty) account.
pub async fn customer(store: &PgStore) -> Account {
    let (user, account) = new_user(&format!("c{}@example.com", Uuid::now_v7().simple()));
    store.create_with_account(&user, &PasswordHash::new("$argon2id$test".into()), &account).await.expect("created");
    account
}

pub async fn deposit(store: &PgStore, account: AccountId, amount: &str) -> Account {
    let activity = Activity::deposit(
        ActivityId::from_uuid(Uuid::now_v7()),
        account,
        Amount::new(d(amount)).expect("positive"),
        Utc::now(),
    );
    store.move_cash(&activity).await.expect("deposit")
}

/// A new order as the order service builds it.
pub fn order(account: AccountId, side: Side, order_type: OrderType, symbol: &str, qty: &str) -> Order {
    Order::submitted(
        OrderId::from_uuid(Uuid::now_v7()),
        account,
        Symbol::parse(symbol).expect("valid symbol"),
        side,
        order_type,
        TimeInForce::Day,
        Quantity::new(d(qty)).expect("valid qty"),
        Utc::now(),
    )
}

pub fn limit_buy(account: AccountId, symbol: &str, qty: &str, limit: &str) -> Order {
    let mut o = order(account, Side::Buy, OrderType::Limit, symbol, qty);
    o.limit_price = Some(Price::new(d(limit)).expect("valid price"));
    o
}

pub fn with_client_id(mut o: Order, id: &str) -> Order {
    o.client_order_id = Some(ClientOrderId::parse(id).expect("valid client id"));
    o
}

/// What placing does right after storing: fill `qty` at `price` with a `fee`.
pub fn fill_now(qty: &str, price: &str, fee: &str) -> AfterPlace {
    AfterPlace::Fill(Fill {
        activity_id: ActivityId::from_uuid(Uuid::now_v7()),
        fee_activity_id: ActivityId::from_uuid(Uuid::now_v7()),
        qty: Quantity::new(d(qty)).expect("valid"),
        price: Price::new(d(price)).expect("valid"),
        fee: money(fee),
        at: Utc::now(),
    })
}

pub fn quote(symbol: &str, bid: &str, ask: &str) -> Quote {
    Quote {
        symbol: Symbol::parse(symbol).expect("valid symbol"),
        price: Price::new(d(bid)).expect("valid"),
        bid: Price::new(d(bid)).expect("valid"),
        ask: Price::new(d(ask)).expect("valid"),
        as_of: Utc::now(),
        source: "test",
        stale: false,
        max_age: None,
    }
}

/// An engine step on `quote` with fresh activity ids.
pub fn tick(quote: Option<Quote>, fees: FeeSchedule) -> Tick {
    Tick {
        quote,
        at: Utc::now(),
        expire: false,
        fees,
        activity_id: ActivityId::from_uuid(Uuid::now_v7()),
        fee_activity_id: ActivityId::from_uuid(Uuid::now_v7()),
    }
}

/// The audit of the whole test database finds nothing.
pub async fn assert_sound(store: &PgStore) {
    let problems = store.audit().await.expect("audit runs");
    assert!(problems.is_empty(), "the book is unsound: {problems:#?}");
}

/// The number `sql` counts (`SELECT count(*)::text AS value …`).
pub async fn count(db: &TestDatabase, sql: &str) -> i64 {
    let rows = db.texts(sql).await.expect("query runs");
    rows.first().and_then(|v| v.as_deref()).expect("one value").parse().expect("a number")
}
