//! The trading engine as a client sees it: replacing orders, canceling all, resting orders
//! that the execution engine fills, the portfolio with its P&L, closing positions, fees.
//! Every scenario ends with the book's invariant check (`brokerage check-invariants`).

use brokerage_e2e::{Customer, TestApp};
use reqwest::StatusCode;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use std::str::FromStr;
use std::time::Duration;

fn dec(v: &Value) -> Decimal {
    Decimal::from_str(v.as_str().unwrap_or_else(|| panic!("decimal string expected, got {v}"))).expect("decimal")
}

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).expect("decimal")
}

async fn assert_sound(app: &TestApp) {
    let violations = app.audit().await;
    assert!(violations.is_empty(), "invariant violations: {violations:#?}");
}

async fn buying_power(app: &TestApp, c: &Customer) -> Decimal {
    dec(&app.get("/api/v1/account", &c.token).await.body["buying_power"])
}

async fn place(app: &TestApp, c: &Customer, body: Value) -> Value {
    let reply = app.post("/api/v1/orders", &c.token, body).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
    reply.body
}

/// A buy limit far below the market (the simulated prices stay within a few % of their
/// base, AAPL's is 190): it rests.
async fn resting_buy(app: &TestApp, c: &Customer, qty: &str, limit: &str) -> Value {
    let order =
        place(app, c, json!({"symbol": "AAPL", "side": "buy", "type": "limit", "qty": qty, "limit_price": limit}))
            .await;
    assert_eq!(order["status"], "new");
    order
}

pub async fn a_replace_moves_the_hold_to_the_new_order(app: &TestApp) {
    let c = app.funded_customer("10000").await;
    let old = resting_buy(app, &c, "10", "50").await;
    let old_id = old["id"].as_str().expect("id").to_owned();
    assert_eq!(buying_power(app, &c).await, d("9500"));

    // qty and limit change; the rest is kept.
    let reply = app
        .patch(
            &format!("/api/v1/orders/{old_id}"),
            &c.token,
            json!({"qty": 5, "limit_price": "60", "client_order_id": "r-1"}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    let new = reply.body;
    let new_id = new["id"].as_str().expect("id").to_owned();
    assert_ne!(new_id, old_id);
    assert_eq!(new["replaces"], json!(old_id));
    assert_eq!(
        (new["status"].as_str(), new["type"].as_str(), new["side"].as_str()),
        (Some("new"), Some("limit"), Some("buy"))
    );
    assert_eq!((dec(&new["qty"]), dec(&new["limit_price"])), (d("5"), d("60")));
    assert_eq!(new["client_order_id"], "r-1");
    let old_now = app.get(&format!("/api/v1/orders/{old_id}"), &c.token).await.body;
    assert_eq!(old_now["status"], "replaced");
    assert_eq!(old_now["replaced_by"], json!(new_id));
    // The hold is trued up: 5 × 60 instead of 10 × 50.
    assert_eq!(buying_power(app, &c).await, d("9700"));

    // A closed order cannot be replaced; unknown and another's are not found.
    let again = app.patch(&format!("/api/v1/orders/{old_id}"), &c.token, json!({"limit_price": "55"})).await;
    assert_eq!((again.status, again.error()), (StatusCode::UNPROCESSABLE_ENTITY, "order_not_cancelable"));
    let unknown = app.patch(&format!("/api/v1/orders/{}", uuid::Uuid::now_v7()), &c.token, json!({})).await;
    assert_eq!((unknown.status, unknown.error()), (StatusCode::NOT_FOUND, "not_found"));
    let other = app.funded_customer("100").await;
    let theirs = app.patch(&format!("/api/v1/orders/{new_id}"), &other.token, json!({"limit_price": "1"})).await;
    assert_eq!((theirs.status, theirs.error()), (StatusCode::NOT_FOUND, "not_found"));
    // Bad input names its field; the symbol cannot change.
    let bad = app.patch(&format!("/api/v1/orders/{new_id}"), &c.token, json!({"qty": "-1"})).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{:?}", bad.body);
    let smuggled = app.patch(&format!("/api/v1/orders/{new_id}"), &c.token, json!({"symbol": "MSFT"})).await;
    assert_eq!(smuggled.status, StatusCode::BAD_REQUEST, "{:?}", smuggled.body);

    // Too big for the cash: refused, and the order stays as it was.
    let big = app.patch(&format!("/api/v1/orders/{new_id}"), &c.token, json!({"qty": "1000"})).await;
    assert_eq!(
        (big.status, big.error()),
        (StatusCode::UNPROCESSABLE_ENTITY, "insufficient_buying_power"),
        "{:?}",
        big.body
    );
    let still = app.get(&format!("/api/v1/orders/{new_id}"), &c.token).await.body;
    assert_eq!((still["status"].as_str(), dec(&still["qty"])), (Some("new"), d("5")));
    assert_eq!(buying_power(app, &c).await, d("9700"));

    // Replaced by a marketable limit: the new order fills at once, the hold becomes the cost.
    let filled = app.patch(&format!("/api/v1/orders/{new_id}"), &c.token, json!({"limit_price": "1000"})).await;
    assert_eq!(filled.status, StatusCode::OK, "{:?}", filled.body);
    assert_eq!(filled.body["status"], "filled");
    assert_eq!(filled.body["replaces"], json!(new_id));
    let price = dec(&filled.body["filled_avg_price"]);
    let account = app.get("/api/v1/account", &c.token).await.body;
    assert_eq!(dec(&account["cash"]), d("10000") - price * d("5"));
    assert_eq!(dec(&account["buying_power"]), dec(&account["cash"]));
    assert_sound(app).await;
}

pub async fn the_engine_fills_resting_orders_once_triggered(app: &TestApp) {
    let c = app.funded_customer("10000").await;
    // A buy stop at $1 rests at placement (stops never fill on placement) and is triggered by
    // the engine's first look at the market.
    let stop = place(
        app,
        &c,
        json!({"symbol": "AAPL", "side": "buy", "type": "stop", "qty": 2, "stop_price": "1", "time_in_force": "gtc"}),
    )
    .await;
    assert_eq!(stop["status"], "new", "{stop:?}");
    // A stop-limit: the stop arms it, the (generous) limit lets it trade.
    let stop_limit = place(
        app,
        &c,
        json!({"symbol": "MSFT", "side": "buy", "type": "stop_limit", "qty": 1, "stop_price": "1", "limit_price": "2000"}),
    )
    .await;
    assert_eq!(stop_limit["status"], "new", "{stop_limit:?}");
    // A limit far below the market stays.
    let resting = resting_buy(app, &c, "1", "5").await;

    let is_filled = |o: &Value| o["status"] == "filled";
    let path = format!("/api/v1/orders/{}", stop["id"].as_str().expect("id"));
    let filled = app.eventually(&path, &c.token, Duration::from_secs(10), is_filled).await.body;
    assert_eq!(filled["status"], "filled", "the engine never filled the stop: {filled:?}");
    assert_eq!(dec(&filled["filled_qty"]), d("2"));
    let price = dec(&filled["filled_avg_price"]);
    assert!(price > d("100"), "filled at the market, not at the stop: {price}");

    let path = format!("/api/v1/orders/{}", stop_limit["id"].as_str().expect("id"));
    let armed = app.eventually(&path, &c.token, Duration::from_secs(10), is_filled).await.body;
    assert_eq!(armed["status"], "filled", "{armed:?}");
    assert!(armed["triggered_at"].is_string(), "a stop-limit records when it was armed: {armed:?}");
    assert!(dec(&armed["filled_avg_price"]) <= d("2000"));

    let position = app.get("/api/v1/positions/AAPL", &c.token).await;
    assert_eq!(dec(&position.body["qty"]), d("2"));
    let fills = app.get("/api/v1/account/activities?type=fill", &c.token).await.body;
    assert_eq!(fills["data"].as_array().map(Vec::len), Some(2), "{fills:?}");

    tokio::time::sleep(Duration::from_millis(300)).await;
    let still = app.get(&format!("/api/v1/orders/{}", resting["id"].as_str().expect("id")), &c.token).await.body;
    assert_eq!(still["status"], "new", "a limit below the market must not fill");
    assert_sound(app).await;
}

pub async fn cancel_all_answers_one_entry_per_open_order(app: &TestApp) {
    let c = app.funded_customer("10000").await;
    let none = app.delete("/api/v1/orders", &c.token).await;
    assert_eq!(none.status.as_u16(), 207, "{:?}", none.body);
    assert_eq!(none.body, json!([]));

    let mut ids = Vec::new();
    for limit in ["10", "11", "12"] {
        ids.push(resting_buy(app, &c, "10", limit).await["id"].as_str().expect("id").to_owned());
    }
    // A filled order is not open: not in the answer.
    place(app, &c, json!({"symbol": "AAPL", "side": "buy", "type": "market", "qty": 1})).await;
    let other = app.funded_customer("1000").await;
    let theirs = resting_buy(app, &other, "1", "10").await;

    let all = app.delete("/api/v1/orders", &c.token).await;
    assert_eq!(all.status.as_u16(), 207, "{:?}", all.body);
    let entries = all.body.as_array().expect("a list").clone();
    let mut answered: Vec<String> = entries.iter().map(|e| e["id"].as_str().expect("id").to_owned()).collect();
    answered.sort();
    ids.sort();
    assert_eq!(answered, ids);
    for e in &entries {
        assert_eq!(e["status"], 200, "{e:?}");
        assert_eq!(e["body"]["status"], "canceled", "{e:?}");
        assert_eq!(e["body"]["id"], e["id"]);
    }
    let account = app.get("/api/v1/account", &c.token).await.body;
    assert_eq!(dec(&account["buying_power"]), dec(&account["cash"]), "every hold is released");
    let open = app.get("/api/v1/orders?status=open", &c.token).await.body;
    assert_eq!(open["data"], json!([]));
    // Another customer's orders are untouched.
    let still = app.get(&format!("/api/v1/orders/{}", theirs["id"].as_str().expect("id")), &other.token).await;
    assert_eq!(still.body["status"], "new");

    let again = app.delete("/api/v1/orders", &c.token).await;
    assert_eq!((again.status.as_u16(), again.body.clone()), (207, json!([])));
    assert_sound(app).await;
}

pub async fn the_portfolio_reports_realized_and_unrealized_pl(app: &TestApp) {
    let c = app.funded_customer("10000").await;
    let empty = app.get("/api/v1/portfolio", &c.token).await;
    assert_eq!(empty.status, StatusCode::OK, "{:?}", empty.body);
    assert_eq!((dec(&empty.body["equity"]), dec(&empty.body["realized_pl"])), (d("10000"), d("0")));
    assert_eq!(empty.body["positions"], json!([]));

    let buy = place(app, &c, json!({"symbol": "AAPL", "side": "buy", "type": "market", "qty": 10})).await;
    let buy_price = dec(&buy["filled_avg_price"]);
    // Let the simulated market take a step or two: the sale is at another price.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let sell = place(app, &c, json!({"symbol": "AAPL", "side": "sell", "type": "market", "qty": 4})).await;
    let sell_price = dec(&sell["filled_avg_price"]);
    let realized = (sell_price - buy_price) * d("4");

    let p = app.get("/api/v1/portfolio", &c.token).await.body;
    assert_eq!(dec(&p["realized_pl"]), realized, "{p:?}");
    let cash = d("10000") - buy_price * d("10") + sell_price * d("4");
    assert_eq!(dec(&p["cash"]), cash);
    let positions = p["positions"].as_array().expect("positions");
    assert_eq!(positions.len(), 1);
    assert_eq!((positions[0]["symbol"].as_str(), dec(&positions[0]["qty"])), (Some("AAPL"), d("6")));
    assert_eq!(dec(&positions[0]["cost_basis"]), buy_price * d("6"), "FIFO: the rest cost what it cost");
    assert_eq!(dec(&p["long_market_value"]), dec(&positions[0]["market_value"]));
    assert_eq!(dec(&p["unrealized_pl"]), dec(&positions[0]["unrealized_pl"]));
    assert_eq!(dec(&p["equity"]), cash + dec(&p["long_market_value"]));

    // The sell fill's activity carries its realized P&L.
    let fills = app.get("/api/v1/account/activities?type=fill", &c.token).await.body;
    let sale =
        fills["data"].as_array().expect("page").iter().find(|a| a["side"] == "sell").cloned().expect("sell fill");
    assert_eq!(dec(&sale["realized_pl"]), realized);
    assert_sound(app).await;
}

pub async fn positions_close_whole_by_qty_or_by_percentage(app: &TestApp) {
    let c = app.funded_customer("10000").await;
    place(app, &c, json!({"symbol": "AAPL", "side": "buy", "type": "market", "qty": 10})).await;

    let by_qty = app.delete("/api/v1/positions/AAPL?qty=2", &c.token).await;
    assert_eq!(by_qty.status, StatusCode::OK, "{:?}", by_qty.body);
    assert_eq!((by_qty.body["side"].as_str(), by_qty.body["type"].as_str()), (Some("sell"), Some("market")));
    assert_eq!((by_qty.body["status"].as_str(), dec(&by_qty.body["qty"])), (Some("filled"), d("2")));
    assert_eq!(dec(&app.get("/api/v1/positions/AAPL", &c.token).await.body["qty"]), d("8"));

    let half = app.delete("/api/v1/positions/aapl?percentage=50", &c.token).await;
    assert_eq!(half.status, StatusCode::OK, "{:?}", half.body);
    assert_eq!(dec(&half.body["qty"]), d("4"));
    assert_eq!(dec(&app.get("/api/v1/positions/AAPL", &c.token).await.body["qty"]), d("4"));

    for bad in ["qty=1&percentage=50", "percentage=0", "percentage=150", "qty=abc", "qty=-1"] {
        let reply = app.delete(&format!("/api/v1/positions/AAPL?{bad}"), &c.token).await;
        assert_eq!(
            (reply.status, reply.error()),
            (StatusCode::BAD_REQUEST, "validation_error"),
            "{bad}: {:?}",
            reply.body
        );
    }
    let too_many = app.delete("/api/v1/positions/AAPL?qty=5", &c.token).await;
    assert_eq!(too_many.status, StatusCode::BAD_REQUEST, "{:?}", too_many.body);

    let rest = app.delete("/api/v1/positions/AAPL", &c.token).await;
    assert_eq!(rest.status, StatusCode::OK, "{:?}", rest.body);
    assert_eq!(dec(&rest.body["qty"]), d("4"));
    let gone = app.get("/api/v1/positions/AAPL", &c.token).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    let again = app.delete("/api/v1/positions/AAPL", &c.token).await;
    assert_eq!((again.status, again.error()), (StatusCode::NOT_FOUND, "not_found"));
    let never = app.delete("/api/v1/positions/MSFT", &c.token).await;
    assert_eq!(never.status, StatusCode::NOT_FOUND);
    let nonsense = app.delete("/api/v1/positions/%20%20", &c.token).await;
    assert_eq!(nonsense.status, StatusCode::NOT_FOUND);
    assert_sound(app).await;
}

/// Spawned with 1 cent a share, at least $1 a fill.
pub async fn each_fill_books_its_commission(app: &TestApp) {
    let c = app.funded_customer("100000").await;
    let small = place(app, &c, json!({"symbol": "AAPL", "side": "buy", "type": "market", "qty": 10})).await;
    let big = place(app, &c, json!({"symbol": "AAPL", "side": "buy", "type": "market", "qty": 300})).await;
    let sell = place(app, &c, json!({"symbol": "AAPL", "side": "sell", "type": "market", "qty": 150})).await;
    let cost = |o: &Value| dec(&o["filled_avg_price"]) * dec(&o["filled_qty"]);
    // 10 shares: 10 cents, raised to the $1 minimum; 300: $3; 150: $1.50.
    let fees = d("1") + d("3") + d("1.5");

    let listed = app.get("/api/v1/account/activities?type=fee", &c.token).await.body;
    let mut amounts: Vec<Decimal> =
        listed["data"].as_array().expect("page").iter().map(|a| dec(&a["amount"])).collect();
    amounts.sort();
    assert_eq!(amounts, vec![d("-3"), d("-1.5"), d("-1")], "{listed:?}");
    let fee = &listed["data"][0];
    assert!(fee["order_id"].is_string() && fee["symbol"] == "AAPL", "a fee names its fill's order: {fee:?}");

    let account = app.get("/api/v1/account", &c.token).await.body;
    let cash = d("100000") - cost(&small) - cost(&big) + cost(&sell) - fees;
    assert_eq!(dec(&account["cash"]), cash);

    // A resting buy holds its commission too, and the engine charges it when it fills.
    let stop =
        place(app, &c, json!({"symbol": "AAPL", "side": "buy", "type": "stop", "qty": 1, "stop_price": "1"})).await;
    let path = format!("/api/v1/orders/{}", stop["id"].as_str().expect("id"));
    let filled = app.eventually(&path, &c.token, Duration::from_secs(10), |o| o["status"] == "filled").await.body;
    assert_eq!(filled["status"], "filled", "{filled:?}");
    let account = app.get("/api/v1/account", &c.token).await.body;
    assert_eq!(dec(&account["cash"]), cash - cost(&filled) - d("1"));
    assert_eq!(dec(&account["buying_power"]), dec(&account["cash"]));
    assert_sound(app).await;
}
