//! The market clock: `GET /api/v1/market-data/clock`, and market orders refused while the
//! regular session is closed (limit orders still rest).

use brokerage_e2e::{Backend, TestApp};
use chrono::{DateTime, Duration, Utc};
use reqwest::StatusCode;
use serde_json::json;

fn instant(value: &serde_json::Value) -> DateTime<Utc> {
    let s = value.as_str().unwrap_or_else(|| panic!("not a string: {value}"));
    assert!(s.ends_with('Z'), "not UTC: {s}");
    DateTime::parse_from_rfc3339(s).unwrap_or_else(|e| panic!("{s}: {e}")).with_timezone(&Utc)
}

/// The default settings: the simulated market is always open and never closes.
pub async fn the_clock_says_the_simulated_market_is_always_open(app: &TestApp) {
    let c = app.customer().await;
    let before = Utc::now() - Duration::seconds(5);
    let clock = app.get("/api/v1/market-data/clock", &c.token).await;
    assert_eq!(clock.status, StatusCode::OK, "{:?}", clock.body);
    assert_eq!(clock.body["is_open"], json!(true));
    let timestamp = instant(&clock.body["timestamp"]);
    assert!(timestamp >= before && timestamp <= Utc::now() + Duration::seconds(5), "{timestamp}");
    assert_eq!(instant(&clock.body["next_open"]), timestamp);
    assert!(clock.body["next_close"].is_null(), "{:?}", clock.body);

    let anonymous = app.request(reqwest::Method::GET, "/api/v1/market-data/clock", None, None).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
}

/// Regular hours with yesterday, today and tomorrow (New York) as holidays: closed whatever
/// the time of the run.
async fn market_orders_are_refused_while_the_market_is_closed(backend: Backend) {
    let today = brokerage_domain::market::eastern_time(Utc::now()).date();
    let holidays = (-1..=1).map(|n| (today + Duration::days(n)).format("%Y-%m-%d").to_string()).collect::<Vec<_>>();
    let app = TestApp::spawn_with(
        backend,
        vec![
            ("BROKERAGE__RATE_LIMIT__ENABLED".to_owned(), "false".to_owned()),
            ("BROKERAGE__MARKET_HOURS__ALWAYS_OPEN".to_owned(), "false".to_owned()),
            ("BROKERAGE__MARKET_HOURS__HOLIDAYS".to_owned(), holidays.join(",")),
        ],
    )
    .await;
    let c = app.funded_customer("5000").await;

    let clock = app.get("/api/v1/market-data/clock", &c.token).await;
    assert_eq!(clock.status, StatusCode::OK, "{:?}", clock.body);
    assert_eq!(clock.body["is_open"], json!(false));
    let timestamp = instant(&clock.body["timestamp"]);
    let next_open = instant(&clock.body["next_open"]);
    let next_close = instant(&clock.body["next_close"]);
    assert!(next_open > timestamp + Duration::hours(24), "{next_open} vs {timestamp}");
    assert_eq!(next_close - next_open, Duration::minutes(390));

    let market = app
        .post(
            "/api/v1/orders",
            &c.token,
            json!({"symbol": "AAPL", "side": "buy", "type": "market", "qty": "1", "time_in_force": "day"}),
        )
        .await;
    assert_eq!(market.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", market.body);
    assert_eq!(market.error(), "market_closed");

    let limit = app
        .post(
            "/api/v1/orders",
            &c.token,
            json!({"symbol": "AAPL", "side": "buy", "type": "limit", "qty": "1", "limit_price": "1.00", "time_in_force": "gtc"}),
        )
        .await;
    assert_eq!(limit.status, StatusCode::CREATED, "{:?}", limit.body);
    assert_eq!(limit.body["status"], "new");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_market_orders_are_refused_while_the_market_is_closed() {
    market_orders_are_refused_while_the_market_is_closed(Backend::Memory).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_market_orders_are_refused_while_the_market_is_closed() {
    market_orders_are_refused_while_the_market_is_closed(Backend::Postgres).await;
}
