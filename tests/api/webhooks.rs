//! Outgoing webhooks end to end: a receiver inside the test records what the dispatcher
//! POSTs; the signature is checked with the endpoint's secret; a failing receiver is retried
//! and the deliveries log shows the attempts; another customer sees none of it.

use brokerage_domain::crypto::Signatures;
use brokerage_e2e::{Reply, TestApp};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Received {
    headers: HashMap<String, String>,
    body: String,
}

/// A tiny HTTP/1.1 server: answers each request with the next queued status (then 200),
/// and records it.
struct Receiver {
    url: String,
    received: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    async fn start(statuses: &[u16]) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the receiver");
        let url = format!("http://127.0.0.1:{}/hook", listener.local_addr().expect("address").port());
        let received = Arc::new(Mutex::new(Vec::new()));
        let statuses = Arc::new(Mutex::new(statuses.iter().copied().collect::<VecDeque<u16>>()));
        let log = received.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (log, statuses) = (log.clone(), statuses.clone());
                tokio::spawn(async move {
                    if let Some(request) = read_request(stream, &statuses).await {
                        log.lock().expect("lock").push(request);
                    }
                });
            }
        });
        Receiver { url, received }
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().expect("lock").clone()
    }

    /// Waits (at most 10 s) for a request whose JSON body has `event` for `order_id`.
    async fn wait_for_event(&self, event: &str, order_id: &Value) -> Received {
        for _ in 0..200 {
            let found = self.received().into_iter().find(|r| {
                let body: Value = serde_json::from_str(&r.body).unwrap_or_default();
                body["event"] == event && &body["order"]["id"] == order_id
            });
            if let Some(found) = found {
                return found;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("no {event} event for order {order_id}: got {:?}", self.received());
    }

    /// Waits (at most 10 s) until `n` requests have arrived.
    async fn wait_for(&self, n: usize) -> Vec<Received> {
        for _ in 0..200 {
            let got = self.received();
            if got.len() >= n {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the receiver got {} requests, expected {n}", self.received().len());
    }
}

async fn read_request(mut stream: TcpStream, statuses: &Mutex<VecDeque<u16>>) -> Option<Received> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let headers: HashMap<String, String> = head
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length: usize = headers.get("content-length").and_then(|l| l.parse().ok()).unwrap_or(0);
    while buf.len() < head_end + length {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let body = String::from_utf8_lossy(&buf[head_end..]).to_string();
    let status = statuses.lock().expect("lock").pop_front().unwrap_or(200);
    let answer = format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
    let _ = stream.write_all(answer.as_bytes()).await;
    let _ = stream.shutdown().await;
    Some(Received { headers, body })
}

/// An application like `app` (same backend) whose dispatcher accepts local http URLs, runs
/// every 50 ms and retries after 100 ms.
async fn webhook_app(app: &TestApp) -> TestApp {
    let settings = [
        ("BROKERAGE__RATE_LIMIT__ENABLED", "false"),
        ("BROKERAGE__WEBHOOKS__ALLOW_HTTP_LOCALHOST", "true"),
        ("BROKERAGE__WEBHOOKS__DISPATCH_INTERVAL_MS", "50"),
        ("BROKERAGE__WEBHOOKS__RETRY_BASE_MS", "100"),
        ("BROKERAGE__WEBHOOKS__TIMEOUT_MS", "2000"),
    ];
    TestApp::spawn_with(app.backend, settings.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()).await
}

/// Checks `X-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, t + "." + body)>`.
fn assert_signed(request: &Received, secret: &str) {
    let header = request.headers.get("x-signature").expect("X-Signature");
    let (t, v1) = header.split_once(",v1=").expect("t=…,v1=…");
    let t = t.strip_prefix("t=").expect("t=");
    let age = chrono::Utc::now().timestamp() - t.parse::<i64>().expect("unix seconds");
    assert!((0..60).contains(&age), "timestamp {t} is {age} s old");
    let message = format!("{t}.{}", request.body);
    assert!(
        brokerage_security::HmacSigner.verify(secret.as_bytes(), message.as_bytes(), v1),
        "the signature verifies with the endpoint's secret"
    );
    let wrong = format!("{t}.{} ", request.body);
    assert!(!brokerage_security::HmacSigner.verify(secret.as_bytes(), wrong.as_bytes(), v1), "a changed body fails");
}

async fn register(app: &TestApp, token: &str, url: &str, events: Value) -> Reply {
    app.post("/api/v1/webhooks", token, json!({"url": url, "events": events})).await
}

async fn buy(app: &TestApp, token: &str) -> Value {
    let order =
        app.post("/api/v1/orders", token, json!({"symbol": "AAPL", "side": "buy", "type": "market", "qty": 1})).await;
    assert_eq!(order.status, StatusCode::CREATED, "{:?}", order.body);
    order.body
}

/// The deliveries log once every delivery in it is settled (at most 10 s).
async fn settled_deliveries(app: &TestApp, token: &str, id: &str) -> Vec<Value> {
    for _ in 0..200 {
        let log = app.get(&format!("/api/v1/webhooks/{id}/deliveries"), token).await;
        assert_eq!(log.status, StatusCode::OK, "{:?}", log.body);
        let data = log.body["data"].as_array().cloned().unwrap_or_default();
        if !data.is_empty() && data.iter().all(|d| d["status"] != "pending") {
            return data;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("deliveries still pending after 10 s");
}

pub async fn trade_updates_are_delivered_signed_and_retried(outer: &TestApp) {
    // Without the setting, local plain-http URLs are refused.
    let c = outer.funded_customer("1000").await;
    let refused = register(outer, &c.token, "http://127.0.0.1:9/hook", json!(["fill"])).await;
    assert_eq!((refused.status, refused.error()), (StatusCode::BAD_REQUEST, "validation_error"), "{:?}", refused.body);
    assert_eq!(refused.body["details"][0]["field"], "url");

    let app = webhook_app(outer).await;
    let c = app.funded_customer("1000").await;
    for (url, events) in [
        ("http://example.com/hook", json!(["new"])),
        ("https://user:pw@example.com/hook", json!(["new"])),
        ("https://example.com/hook", json!([])),
        ("https://example.com/hook", json!(["filled"])),
    ] {
        let bad = register(&app, &c.token, url, events.clone()).await;
        assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{url} {events}: {:?}", bad.body);
    }

    // A healthy receiver for every kind, and one that fails once.
    let healthy = Receiver::start(&[]).await;
    let flaky = Receiver::start(&[500]).await;
    let created = register(&app, &c.token, &healthy.url, json!(["new", "fill", "partial_fill"])).await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    let secret = created.body["secret"].as_str().expect("secret shown once").to_owned();
    let healthy_id = created.body["id"].as_str().expect("id").to_owned();
    assert_eq!(created.body["url"], healthy.url.as_str());
    let flaky_created = register(&app, &c.token, &flaky.url, json!(["new"])).await;
    assert_eq!(flaky_created.status, StatusCode::CREATED);
    let flaky_secret = flaky_created.body["secret"].as_str().expect("secret").to_owned();
    let flaky_id = flaky_created.body["id"].as_str().expect("id").to_owned();

    // `Idempotency-Key`: a retried registration is the first answer (same id, same secret).
    let keyed = json!({"url": "https://example.com/keyed", "events": ["fill"]});
    let url = format!("{}/api/v1/webhooks", app.base);
    let mut answers = Vec::new();
    for _ in 0..2 {
        let res = app
            .client
            .post(&url)
            .bearer_auth(&c.token)
            .header("Idempotency-Key", "webhook-1")
            .json(&keyed)
            .send()
            .await
            .expect("request");
        let replayed = res.headers().contains_key("idempotent-replayed");
        answers.push((res.status(), replayed, res.text().await.expect("body")));
    }
    assert_eq!((answers[0].0, answers[0].1), (StatusCode::CREATED, false));
    assert_eq!((answers[1].0, answers[1].1), (StatusCode::CREATED, true), "replayed");
    assert_eq!(answers[0].2, answers[1].2, "the first answer byte for byte");
    let keyed_id = serde_json::from_str::<Value>(&answers[0].2).expect("json")["id"].as_str().expect("id").to_owned();
    assert_eq!(app.delete(&format!("/api/v1/webhooks/{keyed_id}"), &c.token).await.status, StatusCode::NO_CONTENT);

    let listed = app.get("/api/v1/webhooks", &c.token).await;
    assert_eq!(listed.status, StatusCode::OK);
    let listed = listed.body["data"].as_array().expect("page").clone();
    assert_eq!(listed.len(), 2, "one endpoint per distinct request; deleted ones are not listed");
    assert!(listed.iter().all(|w| w.get("secret").is_none()), "never listed with its secret");

    let order = buy(&app, &c.token).await;

    // The healthy receiver gets the order's `new` event, signed, with the order as the API shows it.
    let first = &healthy.wait_for_event("new", &order["id"]).await;
    assert_signed(first, &secret);
    assert_eq!(first.headers.get("content-type").map(String::as_str), Some("application/json"));
    assert_eq!(first.headers.get("x-webhook-id"), Some(&healthy_id));
    let body: Value = serde_json::from_str(&first.body).expect("JSON body");
    assert_eq!(body["event"], "new");
    assert_eq!(first.headers.get("x-event-seq").map(String::as_str), Some(body["seq"].to_string().as_str()));
    assert_eq!(body["order"]["id"], order["id"]);
    assert_eq!(body["order"]["symbol"], "AAPL");
    assert!(body["at"].is_string());
    let api_order = app.get(&format!("/api/v1/orders/{}", order["id"].as_str().expect("id")), &c.token).await;
    assert_eq!(body["order"]["account_id"], api_order.body["account_id"]);

    // The flaky receiver answered 500 first: the same event comes again, and the log shows it.
    let retried = flaky.wait_for(2).await;
    assert_eq!(retried[0].body, retried[1].body, "a retry sends the same event");
    assert_signed(&retried[1], &flaky_secret);
    let log = settled_deliveries(&app, &c.token, &flaky_id).await;
    assert_eq!(log.len(), 1, "{log:?}");
    let d = &log[0];
    assert_eq!(
        (d["status"].as_str(), d["attempt"].as_u64(), d["event"].as_str()),
        (Some("delivered"), Some(2), Some("new"))
    );
    assert_eq!(d["response_status"], 200);
    assert_eq!(d["event_seq"], body["seq"]);
    assert!(d["delivered_at"].is_string());

    // Another customer can neither read nor delete them.
    let other = app.customer().await;
    for path in [format!("/api/v1/webhooks/{flaky_id}/deliveries"), format!("/api/v1/webhooks/{healthy_id}/deliveries")]
    {
        let r = app.get(&path, &other.token).await;
        assert_eq!((r.status, r.error()), (StatusCode::NOT_FOUND, "not_found"), "{path}");
    }
    let r = app.delete(&format!("/api/v1/webhooks/{flaky_id}"), &other.token).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(app.get("/api/v1/webhooks", &other.token).await.body["data"], json!([]));

    // Deleted: its log is gone for its owner too, and it gets nothing more.
    let deleted = app.delete(&format!("/api/v1/webhooks/{flaky_id}"), &c.token).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    let gone = app.get(&format!("/api/v1/webhooks/{flaky_id}/deliveries"), &c.token).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    let before = flaky.received().len();
    let second = buy(&app, &c.token).await;
    healthy.wait_for_event("new", &second["id"]).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(flaky.received().len(), before, "a deleted endpoint gets nothing");
    app.stop().await;
}
