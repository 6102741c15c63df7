//! Scenarios a client can see, written once and run on every backend.

use brokerage_e2e::{PASSWORD, TestApp};
use reqwest::{Method, StatusCode};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use std::str::FromStr;

fn dec(v: &Value) -> Decimal {
    Decimal::from_str(v.as_str().unwrap_or_else(|| panic!("decimal string expected, got {v}"))).expect("decimal")
}

pub async fn register_login_deposit_buy_sell_and_read_the_ledger(app: &TestApp) {
    let c = app.customer().await;
    let me = app.get("/api/v1/me", &c.token).await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.body["email"], json!(c.email));
    assert_eq!(me.body["role"], "customer");
    assert!(me.body.get("password_hash").is_none());

    let dep = app.post("/api/v1/account/deposits", &c.token, json!({"amount": "10000"})).await;
    assert_eq!(dep.status, StatusCode::CREATED, "{:?}", dep.body);
    assert_eq!((dep.body["type"].as_str(), dec(&dep.body["amount"])), (Some("deposit"), Decimal::from(10_000)));

    let buy = app
        .post("/api/v1/orders", &c.token, json!({"symbol": "AAPL", "side": "buy", "type": "market", "qty": 10}))
        .await;
    assert_eq!(buy.status, StatusCode::CREATED, "{:?}", buy.body);
    assert_eq!(buy.body["status"], "filled");
    assert_eq!(dec(&buy.body["filled_qty"]), Decimal::from(10));
    let buy_price = dec(&buy.body["filled_avg_price"]);

    let positions = app.get("/api/v1/positions", &c.token).await;
    assert_eq!(positions.status, StatusCode::OK);
    let data = positions.body["data"].as_array().expect("page");
    assert_eq!(data.len(), 1);
    assert_eq!(data[0]["symbol"], "AAPL");
    assert_eq!(dec(&data[0]["qty"]), Decimal::from(10));
    assert_eq!(dec(&data[0]["cost_basis"]), buy_price * Decimal::from(10));
    assert!(positions.body["next_cursor"].is_null());

    let account = app.get("/api/v1/account", &c.token).await;
    assert_eq!(account.status, StatusCode::OK);
    let cash_after_buy = dec(&account.body["cash"]);
    assert_eq!(cash_after_buy, Decimal::from(10_000) - buy_price * Decimal::from(10));
    assert_eq!(dec(&account.body["buying_power"]), cash_after_buy);
    assert_eq!(dec(&account.body["equity"]), cash_after_buy + dec(&account.body["long_market_value"]));

    let sell = app
        .post("/api/v1/orders", &c.token, json!({"symbol": "AAPL", "side": "sell", "type": "market", "qty": "4"}))
        .await;
    assert_eq!(sell.status, StatusCode::CREATED, "{:?}", sell.body);
    assert_eq!(sell.body["status"], "filled");
    let one = app.get("/api/v1/positions/AAPL", &c.token).await;
    assert_eq!(dec(&one.body["qty"]), Decimal::from(6));

    let acts = app.get("/api/v1/account/activities", &c.token).await;
    assert_eq!(acts.status, StatusCode::OK);
    let acts = acts.body["data"].as_array().expect("page").clone();
    let kinds: Vec<&str> = acts.iter().map(|a| a["type"].as_str().unwrap_or("")).collect();
    assert_eq!(kinds, vec!["fill", "fill", "deposit"], "newest first");
    assert_eq!(acts[0]["side"], "sell");
    assert_eq!(acts[0]["symbol"], "AAPL");
    assert!(dec(&acts[0]["amount"]) > Decimal::ZERO && dec(&acts[1]["amount"]) < Decimal::ZERO);
    let ledger_sum: Decimal = acts.iter().map(|a| dec(&a["amount"])).sum();
    let account = app.get("/api/v1/account", &c.token).await;
    assert_eq!(dec(&account.body["cash"]), ledger_sum, "cash is the sum of the ledger");

    let fills = app.get("/api/v1/account/activities?type=fill", &c.token).await;
    assert_eq!(fills.body["data"].as_array().map(Vec::len), Some(2));
}

pub async fn limit_order_rests_holds_cash_and_cancel_returns_it(app: &TestApp) {
    let c = app.funded_customer("5000").await;
    let order = app
        .post(
            "/api/v1/orders",
            &c.token,
            json!({"symbol": "MSFT", "side": "buy", "type": "limit", "qty": "10", "limit_price": "100.50", "time_in_force": "gtc", "client_order_id": "my-first"}),
        )
        .await;
    assert_eq!(order.status, StatusCode::CREATED, "{:?}", order.body);
    assert_eq!(order.body["status"], "new");
    assert_eq!(order.body["limit_price"], "100.5");
    assert_eq!(order.body["client_order_id"], "my-first");
    let id = order.body["id"].as_str().expect("id").to_owned();

    let account = app.get("/api/v1/account", &c.token).await;
    assert_eq!(dec(&account.body["cash"]), Decimal::from(5000));
    assert_eq!(dec(&account.body["buying_power"]), Decimal::from(5000 - 1005));

    let by_client = app.get("/api/v1/orders/by-client-id/my-first", &c.token).await;
    assert_eq!(by_client.body["id"], json!(id));
    let open = app.get("/api/v1/orders?status=open", &c.token).await;
    assert_eq!(open.body["data"].as_array().map(Vec::len), Some(1));

    let canceled = app.delete(&format!("/api/v1/orders/{id}"), &c.token).await;
    assert_eq!(canceled.status, StatusCode::OK, "{:?}", canceled.body);
    assert_eq!(canceled.body["status"], "canceled");
    assert!(canceled.body["canceled_at"].is_string());
    let account = app.get("/api/v1/account", &c.token).await;
    assert_eq!(dec(&account.body["buying_power"]), Decimal::from(5000));

    let again = app.delete(&format!("/api/v1/orders/{id}"), &c.token).await;
    assert_eq!((again.status, again.error()), (StatusCode::UNPROCESSABLE_ENTITY, "order_not_cancelable"));
    let closed = app.get("/api/v1/orders?status=closed", &c.token).await;
    assert_eq!(closed.body["data"].as_array().map(Vec::len), Some(1));

    let ioc = app
        .post("/api/v1/orders", &c.token, json!({"symbol": "MSFT", "side": "buy", "type": "limit", "qty": 1, "limit_price": 1, "time_in_force": "ioc"}))
        .await;
    assert_eq!(ioc.body["status"], "canceled", "an ioc order that cannot fill now is canceled");
}

pub async fn concurrent_market_buys_never_overspend_cash(app: &TestApp) {
    // 50 buys of 5 AAPL (≈ 950 each) against 9500 of cash: the orders ask for 5× the cash.
    let c = app.funded_customer("9500").await;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..50 {
        let (client, url, token) = (app.client.clone(), format!("{}/api/v1/orders", app.base), c.token.clone());
        tasks.spawn(async move {
            let resp = client
                .post(url)
                .bearer_auth(token)
                .json(&json!({"symbol": "AAPL", "side": "buy", "type": "market", "qty": 5}))
                .send()
                .await
                .expect("sent");
            let status = resp.status();
            (status, resp.json::<Value>().await.expect("json"))
        });
    }
    let (mut accepted_cost, mut accepted, mut rejected) = (Decimal::ZERO, 0, 0);
    while let Some(result) = tasks.join_next().await {
        let (status, body) = result.expect("task");
        match status {
            StatusCode::CREATED => {
                accepted += 1;
                accepted_cost += dec(&body["filled_avg_price"]) * Decimal::from(5);
            }
            StatusCode::UNPROCESSABLE_ENTITY => {
                assert_eq!(body["error"], "insufficient_buying_power");
                rejected += 1;
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!(accepted + rejected, 50);
    assert!((8..=10).contains(&accepted), "accepted {accepted}");
    assert!(accepted_cost <= Decimal::from(9500), "spent {accepted_cost}");
    let account = app.get("/api/v1/account", &c.token).await;
    let cash = dec(&account.body["cash"]);
    assert!(cash >= Decimal::ZERO);
    assert_eq!(cash, Decimal::from(9500) - accepted_cost);
    let position = app.get("/api/v1/positions/AAPL", &c.token).await;
    assert_eq!(dec(&position.body["qty"]), Decimal::from(5 * accepted));
}

pub async fn another_customers_order_is_not_found(app: &TestApp) {
    let alice = app.funded_customer("1000").await;
    let bob = app.customer().await;
    let order = app
        .post(
            "/api/v1/orders",
            &alice.token,
            json!({"symbol": "KO", "side": "buy", "type": "limit", "qty": 1, "limit_price": "10"}),
        )
        .await;
    let id = order.body["id"].as_str().expect("id").to_owned();
    for reply in [
        app.get(&format!("/api/v1/orders/{id}"), &bob.token).await,
        app.delete(&format!("/api/v1/orders/{id}"), &bob.token).await,
        app.get(&format!("/api/v1/orders/{}", uuid::Uuid::now_v7()), &bob.token).await,
    ] {
        assert_eq!((reply.status, reply.error()), (StatusCode::NOT_FOUND, "not_found"), "{:?}", reply.body);
        assert!(reply.body.get("id").is_none(), "no data leaks");
    }
    let bobs = app.get("/api/v1/orders?status=all", &bob.token).await;
    assert_eq!(bobs.body["data"].as_array().map(Vec::len), Some(0));
    let still = app.get(&format!("/api/v1/orders/{id}"), &alice.token).await;
    assert_eq!(still.body["status"], "new", "bob's cancel attempt changed nothing");
}

pub async fn validation_errors_name_the_fields(app: &TestApp) {
    let bad = app
        .request(
            Method::POST,
            "/api/v1/auth/register",
            None,
            Some(json!({"email": "not-an-email", "password": "short"})),
        )
        .await;
    assert_eq!((bad.status, bad.error()), (StatusCode::BAD_REQUEST, "validation_error"));
    let fields: Vec<&str> =
        bad.body["details"].as_array().expect("details").iter().filter_map(|d| d["field"].as_str()).collect();
    assert!(fields.contains(&"email") && fields.contains(&"password"), "{fields:?}");
    assert!(bad.body["request_id"].is_string());

    let smuggled = app
        .request(
            Method::POST,
            "/api/v1/auth/register",
            None,
            Some(json!({"email": "x@example.com", "password": PASSWORD, "role": "admin"})),
        )
        .await;
    assert_eq!(smuggled.status, StatusCode::BAD_REQUEST, "unknown fields such as role are refused");

    let c = app.customer().await;
    let no_limit =
        app.post("/api/v1/orders", &c.token, json!({"symbol": "AAPL", "side": "buy", "type": "limit", "qty": 1})).await;
    assert_eq!((no_limit.status, no_limit.error()), (StatusCode::BAD_REQUEST, "validation_error"));
    assert_eq!(no_limit.body["details"][0]["field"], "limit_price");

    for body in [
        json!({"symbol": "AAPL", "side": "buy", "type": "market", "qty": "abc"}),
        json!({"symbol": "AAPL", "side": "buy", "type": "market", "qty": -1}),
        json!({"symbol": "AAPL", "side": "buy", "type": "market", "qty": "0.0000000001"}),
        json!({"symbol": "AAPL", "side": "buy", "type": "market", "qty": 1e308}),
        json!({"symbol": "AAPL", "side": "sideways", "type": "market", "qty": 1}),
        json!({"symbol": "AAPL", "side": "buy", "type": "market"}),
        json!({"symbol": "AAPL", "side": "buy", "type": "market", "qty": 1, "status": "filled"}),
    ] {
        let r = app.post("/api/v1/orders", &c.token, body.clone()).await;
        assert_eq!((r.status, r.error()), (StatusCode::BAD_REQUEST, "validation_error"), "{body} -> {:?}", r.body);
    }
    for amount in [json!("-5"), json!(0), json!("1.00001"), json!("lots")] {
        let r = app.post("/api/v1/account/deposits", &c.token, json!({"amount": amount})).await;
        assert_eq!((r.status, r.error()), (StatusCode::BAD_REQUEST, "validation_error"), "{amount}");
    }
    let account = app.get("/api/v1/account", &c.token).await;
    assert_eq!(dec(&account.body["cash"]), Decimal::ZERO, "nothing was stored");

    let limit = app.get("/api/v1/orders?limit=501", &c.token).await;
    assert_eq!((limit.status, limit.error()), (StatusCode::BAD_REQUEST, "validation_error"));
}

pub async fn authentication_failures_use_the_envelope(app: &TestApp) {
    let none = app.request(Method::GET, "/api/v1/account", None, None).await;
    assert_eq!((none.status, none.error()), (StatusCode::UNAUTHORIZED, "unauthenticated"));
    let garbage = app.get("/api/v1/account", "not.a.token").await;
    assert_eq!((garbage.status, garbage.error()), (StatusCode::UNAUTHORIZED, "unauthenticated"));

    let c = app.customer().await;
    let wrong = app
        .request(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"email": c.email, "password": "wrong password here"})),
        )
        .await;
    let unknown = app
        .request(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(
                json!({"email": format!("nobody-{}@example.com", uuid::Uuid::now_v7().simple()), "password": PASSWORD}),
            ),
        )
        .await;
    for r in [&wrong, &unknown] {
        assert_eq!((r.status, r.error()), (StatusCode::UNAUTHORIZED, "invalid_credentials"));
    }
    assert_eq!(wrong.body["message"], unknown.body["message"], "unknown e-mail and wrong password look the same");

    let dup = app
        .request(
            Method::POST,
            "/api/v1/auth/register",
            None,
            Some(json!({"email": c.email.to_uppercase(), "password": PASSWORD})),
        )
        .await;
    assert_eq!((dup.status, dup.error()), (StatusCode::CONFLICT, "conflict"), "e-mails are case-insensitive");

    let tokens = app
        .request(Method::POST, "/api/v1/auth/login", None, Some(json!({"email": c.email, "password": PASSWORD})))
        .await;
    assert_eq!(tokens.body["token_type"], "Bearer");
    assert_eq!(tokens.body["expires_in"], 900);
}

pub async fn business_rule_rejections(app: &TestApp) {
    let c = app.funded_customer("100").await;
    let cases = [
        (json!({"symbol": "AAPL", "side": "sell", "type": "market", "qty": 1}), "insufficient_position"),
        (json!({"symbol": "ZZZZ", "side": "buy", "type": "market", "qty": 1}), "unknown_symbol"),
        (json!({"symbol": "AAPL", "side": "buy", "type": "market", "qty": 1}), "insufficient_buying_power"),
    ];
    for (body, code) in cases {
        let r = app.post("/api/v1/orders", &c.token, body).await;
        assert_eq!((r.status, r.error()), (StatusCode::UNPROCESSABLE_ENTITY, code), "{:?}", r.body);
    }
    let w = app.post("/api/v1/account/withdrawals", &c.token, json!({"amount": "100.01"})).await;
    assert_eq!((w.status, w.error()), (StatusCode::UNPROCESSABLE_ENTITY, "insufficient_funds"));
    let w = app.post("/api/v1/account/withdrawals", &c.token, json!({"amount": 40})).await;
    assert_eq!(w.status, StatusCode::CREATED);
    assert_eq!(dec(&w.body["amount"]), Decimal::from(-40));

    let first = app.post("/api/v1/orders", &c.token, json!({"symbol": "INTC", "side": "buy", "type": "limit", "qty": 1, "limit_price": 1, "client_order_id": "dup"})).await;
    assert_eq!(first.status, StatusCode::CREATED);
    let second = app.post("/api/v1/orders", &c.token, json!({"symbol": "INTC", "side": "buy", "type": "limit", "qty": 1, "limit_price": 1, "client_order_id": "dup"})).await;
    assert_eq!((second.status, second.error()), (StatusCode::CONFLICT, "duplicate_client_order_id"));
    let account = app.get("/api/v1/account", &c.token).await;
    assert_eq!(dec(&account.body["cash"]), Decimal::from(60));
    assert_eq!(dec(&account.body["buying_power"]), Decimal::from(59), "only the first order holds cash");
}

pub async fn orders_and_activities_paginate_newest_first(app: &TestApp) {
    let c = app.funded_customer("1000").await;
    let mut ids = Vec::new();
    for i in 1..=3 {
        let r = app
            .post(
                "/api/v1/orders",
                &c.token,
                json!({"symbol": "IBM", "side": "buy", "type": "limit", "qty": 1, "limit_price": i}),
            )
            .await;
        ids.push(r.body["id"].as_str().expect("id").to_owned());
    }
    let first = app.get("/api/v1/orders?limit=2", &c.token).await;
    let page: Vec<&str> =
        first.body["data"].as_array().expect("data").iter().filter_map(|o| o["id"].as_str()).collect();
    assert_eq!(page, vec![ids[2].as_str(), ids[1].as_str()]);
    let cursor = first.body["next_cursor"].as_str().expect("a next page");
    let second = app.get(&format!("/api/v1/orders?limit=2&after={cursor}"), &c.token).await;
    let page: Vec<&str> =
        second.body["data"].as_array().expect("data").iter().filter_map(|o| o["id"].as_str()).collect();
    assert_eq!(page, vec![ids[0].as_str()]);
    assert!(second.body["next_cursor"].is_null());
    let acts = app.get("/api/v1/account/activities?limit=1", &c.token).await;
    assert_eq!(acts.body["data"].as_array().map(Vec::len), Some(1));
}

pub async fn market_data_and_health(app: &TestApp) {
    let c = app.customer().await;
    let q = app.get("/api/v1/market-data/quotes/aapl", &c.token).await;
    assert_eq!(q.status, StatusCode::OK, "{:?}", q.body);
    assert_eq!(q.body["symbol"], "AAPL");
    assert_eq!(q.body["source"], "simulated");
    assert!(dec(&q.body["bid"]) < dec(&q.body["ask"]));
    assert!(q.headers["cache-control"].to_str().expect("ascii").starts_with("public, max-age="));
    let unknown = app.get("/api/v1/market-data/quotes/ZZZZ", &c.token).await;
    assert_eq!((unknown.status, unknown.error()), (StatusCode::NOT_FOUND, "unknown_symbol"));

    let live = app.request(Method::GET, "/health/live", None, None).await;
    assert_eq!(live.status, StatusCode::OK);
    let ready = app.request(Method::GET, "/health/ready", None, None).await;
    assert_eq!(ready.status, StatusCode::OK, "{:?}", ready.body);
    if app.backend == brokerage_e2e::Backend::Postgres {
        assert_eq!(ready.body["checks"]["postgres"], "ok");
        assert_eq!(ready.body["checks"]["redis"], "ok");
    }

    let echoed = app
        .client
        .get(format!("{}/api/v1/me", app.base))
        .header("X-Request-Id", "trace-me-123")
        .send()
        .await
        .expect("sent");
    assert_eq!(echoed.headers()["x-request-id"], "trace-me-123");
    let generated = app.request(Method::GET, "/no/such/route", None, None).await;
    assert_eq!((generated.status, generated.error()), (StatusCode::NOT_FOUND, "not_found"));
    assert!(generated.headers.contains_key("x-request-id"));
    let account = app.get("/api/v1/account", &c.token).await;
    assert_eq!(account.headers["cache-control"], "no-store");
}
