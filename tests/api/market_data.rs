//! Market data end to end with the Alpha Vantage provider pointed at a local fake (wiremock)
//! that answers in the provider's real shapes: each answer reaches the client as the right
//! HTTP status through the asset list, the Redis quote cache and the circuit breaker.

use brokerage_e2e::{Backend, TestApp};
use reqwest::StatusCode;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use std::str::FromStr;
use std::time::Duration;
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn global_quote(symbol: &str, price: &str) -> Value {
    json!({
        "Global Quote": {
            "01. symbol": symbol, "02. open": "218.3500", "03. high": "219.9000", "04. low": "217.4600",
            "05. price": price, "06. volume": "3117345", "07. latest trading day": "2024-10-18",
            "08. previous close": "218.0400", "09. change": "1.7400", "10. change percent": "0.7980%"
        }
    })
}

const NOTE: &str = "Thank you for using Alpha Vantage! Our standard API call frequency is 5 calls per minute and 500 calls per day. Please visit https://www.alphavantage.co/premium/ if you would like to target a higher API call frequency.";
const INFORMATION: &str = "Thank you for using Alpha Vantage! Our standard API rate limit is 25 requests per day. Please subscribe to any of the premium plans at https://www.alphavantage.co/premium/ to instantly remove all daily rate limits.";
const ERROR_MESSAGE: &str = "Invalid API call. Please retry or visit the documentation (https://www.alphavantage.co/documentation/) for GLOBAL_QUOTE.";

/// Answers `response` for `symbol`.
async fn for_symbol(server: &MockServer, symbol: &str, response: ResponseTemplate) {
    Mock::given(method("GET"))
        .and(path("/query"))
        .and(query_param("function", "GLOBAL_QUOTE"))
        .and(query_param("symbol", symbol))
        .respond_with(response)
        .mount(server)
        .await;
}

async fn calls_for(server: &MockServer, symbol: &str) -> usize {
    let requests = server.received_requests().await.unwrap_or_default();
    requests.iter().filter(|r| r.url.query_pairs().any(|(k, v)| k == "symbol" && v == symbol)).count()
}

/// The app on `backend` with Alpha Vantage at `server`; its own Redis keys.
async fn spawn(backend: Backend, server: &MockServer, extra: &[(&str, &str)]) -> TestApp {
    let mut settings = vec![
        ("BROKERAGE__RATE_LIMIT__ENABLED", "false".to_owned()),
        ("BROKERAGE__MARKET_DATA__PROVIDER", "alpha_vantage".to_owned()),
        ("BROKERAGE__MARKET_DATA__BASE_URL", server.uri()),
        ("BROKERAGE__MARKET_DATA__API_KEY", "e2e-key".to_owned()),
        ("BROKERAGE__MARKET_DATA__TIMEOUT_MS", "300".to_owned()),
        ("BROKERAGE__MARKET_DATA__MAX_ATTEMPTS", "2".to_owned()),
        ("BROKERAGE__MARKET_DATA__RETRY_BASE_MS", "10".to_owned()),
        ("BROKERAGE__MARKET_DATA__CALLS_PER_MINUTE", "1000".to_owned()),
        ("BROKERAGE__MARKET_DATA__BREAKER_FAILURES", "100".to_owned()),
        ("BROKERAGE__MARKET_DATA__KEY_PREFIX", format!("e2e:{}:", uuid::Uuid::now_v7())),
    ];
    settings.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
    TestApp::spawn_with(backend, settings.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()).await
}

async fn quote(app: &TestApp, token: &str, symbol: &str) -> brokerage_e2e::Reply {
    app.get(&format!("/api/v1/market-data/quotes/{symbol}"), token).await
}

fn max_age(reply: &brokerage_e2e::Reply) -> u64 {
    let value = reply.headers["cache-control"].to_str().expect("ascii");
    value.strip_prefix("public, max-age=").and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("{value}"))
}

/// Every provider answer, nothing cached: the client sees 200, 404 or 503, never a 500.
async fn every_answer_shape_maps_to_its_status(backend: Backend) {
    let server = MockServer::start().await;
    for_symbol(&server, "IBM", ResponseTemplate::new(200).set_body_json(global_quote("IBM", "219.7800"))).await;
    for_symbol(&server, "SPY", ResponseTemplate::new(200).set_body_json(json!({"Global Quote": {}}))).await;
    for_symbol(&server, "MSFT", ResponseTemplate::new(200).set_body_json(json!({ "Note": NOTE }))).await;
    for_symbol(&server, "AAPL", ResponseTemplate::new(200).set_body_json(json!({ "Information": INFORMATION }))).await;
    for_symbol(&server, "GOOGL", ResponseTemplate::new(200).set_body_json(json!({ "Error Message": ERROR_MESSAGE })))
        .await;
    for_symbol(&server, "AMZN", ResponseTemplate::new(500).set_body_string("Internal Server Error")).await;
    let hang = ResponseTemplate::new(200).set_body_json(global_quote("NVDA", "1.0")).set_delay(Duration::from_secs(5));
    for_symbol(&server, "NVDA", hang).await;
    for_symbol(&server, "META", ResponseTemplate::new(200).set_body_string("{\"Global Quote\": {\"01. symbol\": "))
        .await;
    let app = spawn(backend, &server, &[]).await;
    let c = app.customer().await;

    let ok = quote(&app, &c.token, "ibm").await;
    assert_eq!(ok.status, StatusCode::OK, "{:?}", ok.body);
    assert_eq!(
        (&ok.body["price"], &ok.body["source"], &ok.body["stale"]),
        (&json!("219.78"), &json!("alpha_vantage"), &json!(false))
    );
    let dec = |field: &str| Decimal::from_str(ok.body[field].as_str().expect("a decimal string")).expect("decimal");
    assert!(dec("bid") < dec("price") && dec("price") < dec("ask"), "a spread around the price: {:?}", ok.body);
    let expected_age = if backend == Backend::Postgres { 60 } else { 0 };
    assert!((expected_age.max(1) - 1..=expected_age).contains(&max_age(&ok)), "{:?}", ok.headers);

    let unknown = quote(&app, &c.token, "SPY").await;
    assert_eq!((unknown.status, unknown.error()), (StatusCode::NOT_FOUND, "unknown_symbol"));
    for symbol in ["MSFT", "AAPL", "GOOGL", "AMZN", "NVDA", "META"] {
        let r = quote(&app, &c.token, symbol).await;
        assert_eq!((r.status, r.error()), (StatusCode::SERVICE_UNAVAILABLE, "unavailable"), "{symbol}: {:?}", r.body);
        let text = r.body.to_string();
        assert!(!text.contains("Alpha Vantage") && !text.contains("e2e-key"), "{symbol}: provider text leaked: {text}");
    }
    // An order on a failing symbol is refused the same way; an unlisted one never reaches the provider.
    let order = app
        .post("/api/v1/orders", &c.token, json!({"symbol": "MSFT", "side": "buy", "type": "market", "qty": 1}))
        .await;
    assert_eq!(order.status, StatusCode::SERVICE_UNAVAILABLE);
    let zzzz = quote(&app, &c.token, "ZZZZ").await;
    assert_eq!(zzzz.status, StatusCode::NOT_FOUND);
    assert_eq!(calls_for(&server, "ZZZZ").await, 0, "the asset list answered");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_every_answer_shape_maps_to_its_status() {
    every_answer_shape_maps_to_its_status(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_every_answer_shape_maps_to_its_status() {
    every_answer_shape_maps_to_its_status(Backend::Memory).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_quotes_are_cached_then_served_stale_while_the_provider_fails() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/query"))
        .respond_with(ResponseTemplate::new(200).set_body_json(global_quote("IBM", "219.7800")))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/query"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "Note": NOTE })))
        .mount(&server)
        .await;
    let app = spawn(Backend::Postgres, &server, &[("BROKERAGE__MARKET_DATA__CACHE_TTL_SECONDS", "3")]).await;
    let c = app.funded_customer("10000").await;

    // Concurrent first requests: one upstream call, every answer fresh.
    let firsts = concurrent_quotes(&app, &c.token, 20).await;
    assert!(firsts.iter().all(|r| r.status == StatusCode::OK && r.body["stale"] == json!(false)), "{firsts:?}");
    assert_eq!(calls_for(&server, "IBM").await, 1);
    let buy =
        app.post("/api/v1/orders", &c.token, json!({"symbol": "IBM", "side": "buy", "type": "market", "qty": 1})).await;
    assert_eq!(buy.status, StatusCode::CREATED, "a fresh cached quote is traded on: {:?}", buy.body);

    tokio::time::sleep(Duration::from_millis(3100)).await;
    let stale = quote(&app, &c.token, "IBM").await;
    assert_eq!(stale.status, StatusCode::OK);
    assert_eq!((&stale.body["stale"], &stale.body["price"]), (&json!(true), &json!("219.78")));
    assert_eq!(max_age(&stale), 0);
    let order =
        app.post("/api/v1/orders", &c.token, json!({"symbol": "IBM", "side": "buy", "type": "market", "qty": 1})).await;
    assert_eq!(
        (order.status, order.error()),
        (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
        "no trading on a stale quote"
    );
    app.stop().await;
}

async fn concurrent_quotes(app: &TestApp, token: &str, n: usize) -> Vec<brokerage_e2e::Reply> {
    let mut replies = Vec::new();
    let handles: Vec<_> = (0..n)
        .map(|_| {
            let client = app.client.clone();
            let url = format!("{}/api/v1/market-data/quotes/IBM", app.base);
            let token = token.to_owned();
            tokio::spawn(async move {
                let r = client.get(url).bearer_auth(token).send().await.expect("sent");
                let status = r.status();
                let headers = r.headers().clone();
                let body = r.json::<Value>().await.unwrap_or(Value::Null);
                brokerage_e2e::Reply { status, headers, body }
            })
        })
        .collect();
    for h in handles {
        replies.push(h.await.expect("no panic"));
    }
    replies
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_an_open_breaker_stops_upstream_calls_and_readiness_says_so() {
    let server = MockServer::start().await;
    for_symbol(&server, "MSFT", ResponseTemplate::new(503)).await;
    let app = spawn(
        Backend::Postgres,
        &server,
        &[("BROKERAGE__MARKET_DATA__BREAKER_FAILURES", "2"), ("BROKERAGE__MARKET_DATA__BREAKER_COOLDOWN_SECS", "600")],
    )
    .await;
    let c = app.customer().await;
    // Two attempts of one request fail: the breaker opens.
    assert_eq!(quote(&app, &c.token, "MSFT").await.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(calls_for(&server, "MSFT").await, 2);
    for _ in 0..5 {
        assert_eq!(quote(&app, &c.token, "MSFT").await.status, StatusCode::SERVICE_UNAVAILABLE);
    }
    assert_eq!(calls_for(&server, "MSFT").await, 2, "no upstream call while the breaker is open");

    let ready = app.request(reqwest::Method::GET, "/health/ready", None, None).await;
    assert_eq!(ready.status, StatusCode::OK, "market data is not critical: {:?}", ready.body);
    assert_eq!((&ready.body["status"], &ready.body["checks"]["market_data"]), (&json!("degraded"), &json!("open")));
    app.stop().await;
}
