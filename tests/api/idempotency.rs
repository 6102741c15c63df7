//! `Idempotency-Key` (API.md, Conventions): retries of a creating POST with the same key get
//! the first answer, and nothing is created or moved twice.

use brokerage_e2e::TestApp;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use std::str::FromStr;

/// A response with its raw body, to compare replays byte for byte.
#[derive(Debug, Clone)]
struct Raw {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Raw {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    fn error(&self) -> String {
        self.json()["error"].as_str().unwrap_or("<no envelope>").to_owned()
    }

    fn replayed(&self) -> bool {
        self.headers.get("idempotent-replayed").is_some_and(|v| v == "true")
    }
}

async fn post_with_key(client: &reqwest::Client, url: &str, token: &str, key: Option<&str>, body: &Value) -> Raw {
    let mut req = client.post(url).bearer_auth(token).json(body);
    if let Some(key) = key {
        req = req.header("Idempotency-Key", key);
    }
    let resp = req.send().await.expect("request sent");
    let (status, headers) = (resp.status(), resp.headers().clone());
    let body = resp.bytes().await.expect("body read").to_vec();
    Raw { status, headers, body }
}

async fn post(app: &TestApp, path: &str, token: &str, key: &str, body: &Value) -> Raw {
    post_with_key(&app.client, &format!("{}{path}", app.base), token, Some(key), body).await
}

fn dec(v: &Value) -> Decimal {
    Decimal::from_str(v.as_str().unwrap_or_else(|| panic!("decimal string expected, got {v}"))).expect("decimal")
}

async fn order_count(app: &TestApp, token: &str) -> usize {
    let orders = app.get("/api/v1/orders?status=all", token).await;
    assert_eq!(orders.status, StatusCode::OK, "{:?}", orders.body);
    orders.body["data"].as_array().map_or(0, Vec::len)
}

async fn cash(app: &TestApp, token: &str) -> Decimal {
    dec(&app.get("/api/v1/account", token).await.body["cash"])
}

fn buy() -> Value {
    json!({"symbol": "AAPL", "side": "buy", "type": "market", "qty": 1})
}

pub async fn a_replayed_order_is_the_first_answer_byte_for_byte(app: &TestApp) {
    let c = app.funded_customer("10000").await;
    let first = post(app, "/api/v1/orders", &c.token, "order-1", &buy()).await;
    assert_eq!(first.status, StatusCode::CREATED, "{:?}", first.json());
    assert!(!first.replayed());
    let cash_after_first = cash(app, &c.token).await;

    let again = post(app, "/api/v1/orders", &c.token, "order-1", &buy()).await;
    assert_eq!(again.status, StatusCode::CREATED);
    assert!(again.replayed(), "marked Idempotent-Replayed: true");
    assert_eq!(again.body, first.body, "the body is the first one, byte for byte");
    assert_eq!(again.json()["id"], first.json()["id"]);
    assert_eq!(again.headers.get("content-type"), first.headers.get("content-type"));
    assert_eq!(order_count(app, &c.token).await, 1, "one order");
    assert_eq!(cash(app, &c.token).await, cash_after_first, "bought once");

    let changed = json!({"symbol": "AAPL", "side": "buy", "type": "market", "qty": 2});
    let reused = post(app, "/api/v1/orders", &c.token, "order-1", &changed).await;
    assert_eq!((reused.status, reused.error().as_str()), (StatusCode::UNPROCESSABLE_ENTITY, "idempotency_key_reused"));
    assert_eq!(order_count(app, &c.token).await, 1);

    // A business refusal is a final answer too: replayed, not retried.
    let too_big = json!({"symbol": "AAPL", "side": "buy", "type": "market", "qty": 1000});
    let refused = post(app, "/api/v1/orders", &c.token, "order-2", &too_big).await;
    assert_eq!(
        (refused.status, refused.error().as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, "insufficient_buying_power")
    );
    app.post("/api/v1/account/deposits", &c.token, json!({"amount": "1000000"})).await;
    let still = post(app, "/api/v1/orders", &c.token, "order-2", &too_big).await;
    assert!(still.replayed());
    assert_eq!(still.body, refused.body);
    assert_eq!(order_count(app, &c.token).await, 1);
}

pub async fn twenty_parallel_requests_with_one_key_create_one_order(app: &TestApp) {
    let c = app.funded_customer("10000").await;
    let url = format!("{}/api/v1/orders", app.base);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let (client, url, token) = (app.client.clone(), url.clone(), c.token.clone());
        tasks.spawn(async move { post_with_key(&client, &url, &token, Some("burst"), &buy()).await });
    }
    let mut answers = Vec::new();
    while let Some(answer) = tasks.join_next().await {
        answers.push(answer.expect("task"));
    }
    let created: Vec<&Raw> = answers.iter().filter(|a| a.status == StatusCode::CREATED).collect();
    let originals: Vec<&&Raw> = created.iter().filter(|a| !a.replayed()).collect();
    assert_eq!(
        originals.len(),
        1,
        "exactly one request ran: {:?}",
        answers.iter().map(|a| a.status).collect::<Vec<_>>()
    );
    for answer in &answers {
        match answer.status {
            StatusCode::CREATED => assert_eq!(answer.body, originals[0].body, "replays are the first answer"),
            StatusCode::CONFLICT => assert_eq!(answer.error(), "idempotency_key_in_use"),
            other => panic!("unexpected {other}: {:?}", answer.json()),
        }
    }
    assert_eq!(order_count(app, &c.token).await, 1, "one order");

    let retry = post(app, "/api/v1/orders", &c.token, "burst", &buy()).await;
    assert_eq!(retry.status, StatusCode::CREATED);
    assert!(retry.replayed());
    assert_eq!(retry.body, originals[0].body);
    assert_eq!(order_count(app, &c.token).await, 1);
}

pub async fn a_replayed_deposit_or_withdrawal_moves_money_once(app: &TestApp) {
    let c = app.customer().await;
    let deposit = json!({"amount": "250.50"});
    let first = post(app, "/api/v1/account/deposits", &c.token, "dep-1", &deposit).await;
    assert_eq!(first.status, StatusCode::CREATED, "{:?}", first.json());
    let again = post(app, "/api/v1/account/deposits", &c.token, "dep-1", &deposit).await;
    assert!(again.replayed());
    assert_eq!(again.body, first.body);
    assert_eq!(cash(app, &c.token).await, Decimal::from_str("250.50").expect("decimal"), "credited once");

    let withdrawal = json!({"amount": "50"});
    let out = post(app, "/api/v1/account/withdrawals", &c.token, "wd-1", &withdrawal).await;
    assert_eq!(out.status, StatusCode::CREATED, "{:?}", out.json());
    assert!(post(app, "/api/v1/account/withdrawals", &c.token, "wd-1", &withdrawal).await.replayed());
    assert_eq!(cash(app, &c.token).await, Decimal::from_str("200.50").expect("decimal"), "debited once");

    // Keys are per route: the deposit's key on withdrawals is another key.
    let other_route = post(app, "/api/v1/account/withdrawals", &c.token, "dep-1", &withdrawal).await;
    assert_eq!(other_route.status, StatusCode::CREATED);
    assert!(!other_route.replayed());
    let activities = app.get("/api/v1/account/activities", &c.token).await;
    assert_eq!(activities.body["data"].as_array().map(Vec::len), Some(3));
}

pub async fn keys_belong_to_one_user(app: &TestApp) {
    let (ann, bob) = (app.funded_customer("5000").await, app.funded_customer("5000").await);
    let anns = post(app, "/api/v1/orders", &ann.token, "shared-key", &buy()).await;
    let bobs = post(app, "/api/v1/orders", &bob.token, "shared-key", &buy()).await;
    assert_eq!((anns.status, bobs.status), (StatusCode::CREATED, StatusCode::CREATED));
    assert!(!bobs.replayed(), "Bob's request ran: he never sees Ann's answer");
    assert_ne!(anns.json()["id"], bobs.json()["id"]);
    assert_eq!((order_count(app, &ann.token).await, order_count(app, &bob.token).await), (1, 1));

    // A new API key's secret is shown once, and replayed only to its owner.
    let body = json!({"name": "bot", "scopes": ["read"]});
    let created = post(app, "/api/v1/api-keys", &ann.token, "key-1", &body).await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.json());
    let replay = post(app, "/api/v1/api-keys", &ann.token, "key-1", &body).await;
    assert!(replay.replayed());
    assert_eq!(replay.json()["secret"], created.json()["secret"]);
    let bobs_key = post(app, "/api/v1/api-keys", &bob.token, "key-1", &body).await;
    assert!(!bobs_key.replayed());
    assert_ne!(bobs_key.json()["secret"], created.json()["secret"]);
    assert_eq!(app.get("/api/v1/api-keys", &ann.token).await.body["data"].as_array().map(Vec::len), Some(1));
}

pub async fn signed_requests_honour_the_key(app: &TestApp) {
    use brokerage_domain::crypto::Signatures as _;
    let owner = app.funded_customer("5000").await;
    let created = app.post("/api/v1/api-keys", &owner.token, json!({"name": "bot", "scopes": ["read", "trade"]})).await;
    let (key_id, secret) = (
        created.body["key_id"].as_str().expect("key_id").to_owned(),
        created.body["secret"].as_str().expect("secret").to_owned(),
    );
    let body = buy().to_string();
    // A program retries with a fresh signature (a signature is single-use) and the same key.
    let mut answers = Vec::new();
    for skew in [-2, -1] {
        let ts = (chrono::Utc::now().timestamp() + skew).to_string();
        let message = format!("{ts}\nPOST\n/api/v1/orders\n{body}");
        let signature = brokerage_security::HmacSigner.sign(secret.as_bytes(), message.as_bytes());
        let resp = app
            .client
            .post(format!("{}/api/v1/orders", app.base))
            .header("X-Api-Key", &key_id)
            .header("X-Timestamp", &ts)
            .header("X-Signature", signature)
            .header("Idempotency-Key", "bot-order-1")
            .header("Content-Type", "application/json")
            .body(body.clone())
            .send()
            .await
            .expect("sent");
        let (status, headers) = (resp.status(), resp.headers().clone());
        answers.push(Raw { status, headers, body: resp.bytes().await.expect("body").to_vec() });
    }
    assert_eq!(answers[0].status, StatusCode::CREATED, "{:?}", answers[0].json());
    assert!(answers[1].replayed());
    assert_eq!(answers[1].body, answers[0].body);
    assert_eq!(order_count(app, &owner.token).await, 1);

    // Bearer and signed requests of one user share the user's keys.
    let by_bearer = post(app, "/api/v1/orders", &owner.token, "bot-order-1", &buy()).await;
    assert!(by_bearer.replayed());
}

pub async fn malformed_keys_are_refused(app: &TestApp) {
    let c = app.funded_customer("5000").await;
    let long = "k".repeat(256);
    for bad in ["", "has space", long.as_str()] {
        let res = post(app, "/api/v1/orders", &c.token, bad, &buy()).await;
        assert_eq!((res.status, res.error().as_str()), (StatusCode::BAD_REQUEST, "validation_error"), "{bad:?}");
        assert_eq!(res.json()["details"][0]["field"], "Idempotency-Key", "{bad:?}");
    }
    assert_eq!(order_count(app, &c.token).await, 0, "nothing was placed");
    let longest = "k".repeat(255);
    assert_eq!(post(app, "/api/v1/orders", &c.token, &longest, &buy()).await.status, StatusCode::CREATED);

    // Without a token the key is not looked at: 401 as always.
    let anonymous = app
        .client
        .post(format!("{}/api/v1/orders", app.base))
        .header("Idempotency-Key", "has space")
        .json(&buy())
        .send()
        .await
        .expect("sent");
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
}
