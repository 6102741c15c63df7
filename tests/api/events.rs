//! `GET /api/v1/events`: live trade updates, and a reconnect with `Last-Event-ID` that gets
//! exactly what it missed.

use brokerage_e2e::{Customer, SseEvent, TestApp};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

const PATIENCE: Duration = Duration::from_secs(5);

async fn place(app: &TestApp, c: &Customer, body: Value) -> String {
    let reply = app.post("/api/v1/orders", &c.token, body).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
    reply.body["id"].as_str().expect("id").to_owned()
}

fn resting_buy() -> Value {
    json!({"symbol": "AAPL", "side": "buy", "type": "limit", "qty": 1, "limit_price": "5"})
}

fn kinds_of(events: &[SseEvent], order: &str) -> Vec<String> {
    events.iter().filter(|e| e.data["order"]["id"] == order).map(|e| e.event.clone()).collect()
}

pub async fn trade_updates_stream_live_and_resume_without_gap_or_duplicate(app: &TestApp) {
    let c = app.funded_customer("10000").await;
    // History before the first connection is not streamed (it is in GET /orders).
    let before = place(app, &c, resting_buy()).await;

    let mut live = app.events(&c.token, None).await;
    assert_eq!(live.status, StatusCode::OK);
    let header = |name: &str| live.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    assert!(header("content-type").starts_with("text/event-stream"), "{:?}", live.headers);
    assert_eq!(header("cache-control"), "no-store");
    assert_eq!(header("x-accel-buffering"), "no");
    assert!(!header("content-encoding").contains("gzip"), "never compressed");

    let bought = place(app, &c, json!({"symbol": "AAPL", "side": "buy", "type": "market", "qty": 2})).await;
    let mut seen = Vec::new();
    while !kinds_of(&seen, &bought).contains(&"fill".to_owned()) {
        let event = live.next_event(PATIENCE).await.expect("the fill arrives live");
        seen.push(event);
    }
    assert!(seen.iter().all(|e| e.data["order"]["id"] != before), "no history without Last-Event-ID: {seen:?}");
    let fill = seen.iter().find(|e| e.event == "fill").expect("a fill");
    assert_eq!(fill.data["event"], "fill");
    assert_eq!(fill.data["order"]["status"], "filled");
    assert_eq!(fill.data["fill"]["qty"], "2");
    assert!(fill.data["fill"]["price"].is_string() && fill.data["at"].is_string(), "{:?}", fill.data);
    for pair in seen.windows(2) {
        assert_eq!(pair[1].id, pair[0].id + 1, "ids are a gapless cursor: {seen:?}");
    }
    let last_seen = seen.last().expect("events").id;
    drop(live);

    // Missed while disconnected: a resting order, its cancel, and a replaced one.
    let missed_a = place(app, &c, resting_buy()).await;
    let canceled = app.delete(&format!("/api/v1/orders/{missed_a}"), &c.token).await;
    assert_eq!(canceled.status, StatusCode::OK);
    let missed_b = place(app, &c, resting_buy()).await;
    let replaced = app.patch(&format!("/api/v1/orders/{missed_b}"), &c.token, json!({"limit_price": "6"})).await;
    assert_eq!(replaced.status, StatusCode::OK, "{:?}", replaced.body);
    let replacement = replaced.body["id"].as_str().expect("id").to_owned();

    let mut resumed = app.events(&c.token, Some(last_seen)).await;
    assert_eq!(resumed.status, StatusCode::OK);
    let caught_up = resumed.drain(Duration::from_millis(1500)).await;
    assert!(!caught_up.is_empty(), "the missed events are sent");
    assert_eq!(caught_up[0].id, last_seen + 1, "nothing lost: {caught_up:?}");
    for pair in caught_up.windows(2) {
        assert_eq!(pair[1].id, pair[0].id + 1, "no gap, no duplicate: {caught_up:?}");
    }
    assert_eq!(kinds_of(&caught_up, &missed_a), ["new", "canceled"]);
    assert_eq!(kinds_of(&caught_up, &missed_b), ["new", "replaced"]);
    assert_eq!(kinds_of(&caught_up, &replacement), ["new"]);
    let replaced_event = caught_up.iter().find(|e| e.event == "replaced").expect("replaced");
    assert_eq!(replaced_event.data["order"]["replaced_by"], json!(replacement));

    // The resumed stream continues live.
    let cancel = app.delete(&format!("/api/v1/orders/{replacement}"), &c.token).await;
    assert_eq!(cancel.status, StatusCode::OK);
    let next = resumed.next_event(PATIENCE).await.expect("live after the catch-up");
    assert_eq!((next.id, next.event.as_str()), (caught_up.last().expect("events").id + 1, "canceled"));
    assert_eq!(next.data["order"]["id"], json!(replacement));

    // Another customer sees none of it.
    let other = app.funded_customer("100").await;
    let mut theirs = app.events(&other.token, Some(0)).await;
    assert!(theirs.next_event(Duration::from_millis(700)).await.is_none(), "events are per account");

    // A bad cursor is a validation error; no credentials, 401.
    let bad = app
        .client
        .get(format!("{}/api/v1/events", app.base))
        .bearer_auth(&c.token)
        .header("Last-Event-ID", "x")
        .send()
        .await;
    assert_eq!(bad.expect("answered").status(), StatusCode::BAD_REQUEST);
    let anonymous = app.client.get(format!("{}/api/v1/events", app.base)).send().await.expect("answered");
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);

    let violations = app.audit().await;
    assert!(violations.is_empty(), "{violations:#?}");
    // The streams still open end when the server stops (`TestApp::stop` triggers it).
    drop(resumed);
}

/// A graceful stop does not wait for open event streams: they end at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopping_server_ends_its_event_streams() {
    let app = TestApp::spawn_with(brokerage_e2e::Backend::Memory, brokerage_e2e::trading_settings()).await;
    let c = app.customer().await;
    let mut stream = app.events(&c.token, None).await;
    assert_eq!(stream.status, StatusCode::OK);
    let started = std::time::Instant::now();
    let stopping = tokio::spawn(app.stop());
    assert!(stream.ended_within(Duration::from_secs(5)).await, "the stream ends on shutdown");
    tokio::time::timeout(Duration::from_secs(10), stopping).await.expect("the stop is not held").expect("joined");
    assert!(started.elapsed() < Duration::from_secs(10), "took {:?}", started.elapsed());
}
