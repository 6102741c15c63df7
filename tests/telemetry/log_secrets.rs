//! Logs of a whole session, captured at `trace` level: one access-log line per request with
//! the request's identifiers, and never a password or a token. The subscriber is
//! process-wide, hence a test binary of its own.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use brokerage_app::settings::{LogFormat, LogSettings};
use brokerage_app::telemetry::{self, OtelSettings};
use brokerage_e2e::{Backend, PASSWORD, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::io::Write;
use std::sync::{Arc, Mutex};
use tracing_subscriber::fmt::writer::BoxMakeWriter;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_session_logs_one_line_per_request_and_no_secret() {
    let captured = Captured::default();
    let writer = captured.clone();
    let log = LogSettings { format: LogFormat::Json, filter: "trace".into() };
    let otel = OtelSettings { traces_endpoint: None, service_name: "brokerage".into() };
    telemetry::init_with(&log, &otel, BoxMakeWriter::new(move || writer.clone())).expect("telemetry installs");

    let app = TestApp::spawn(Backend::Memory).await;
    let email = format!("{}@example.com", uuid::Uuid::now_v7().simple());
    let wrong_password = "hunter2-but-much-longer-and-wrong";
    let register = json!({"email": email, "password": PASSWORD});
    assert_eq!(
        app.request(Method::POST, "/api/v1/auth/register", None, Some(register)).await.status,
        StatusCode::CREATED
    );
    let failed = json!({"email": email, "password": wrong_password});
    assert_eq!(
        app.request(Method::POST, "/api/v1/auth/login", None, Some(failed)).await.status,
        StatusCode::UNAUTHORIZED
    );
    let login = app
        .request(Method::POST, "/api/v1/auth/login", None, Some(json!({"email": email, "password": PASSWORD})))
        .await;
    assert_eq!(login.status, StatusCode::OK);
    let token = login.body["access_token"].as_str().expect("access token").to_owned();
    let refresh = login.body["refresh_token"].as_str().map(str::to_owned);
    let user_id = app.get("/api/v1/me", &token).await.body["id"].as_str().expect("id").to_owned();
    assert_eq!(
        app.post("/api/v1/account/deposits", &token, json!({"amount": "1000"})).await.status,
        StatusCode::CREATED
    );
    let order = json!({"symbol": "AAPL", "side": "buy", "type": "market", "qty": "1"});
    let placed = app.post("/api/v1/orders", &token, order).await;
    assert_eq!(placed.status, StatusCode::CREATED);
    let order_request_id = placed.headers["x-request-id"].to_str().expect("ascii").to_owned();
    let bad_token = app.get("/api/v1/account", "not.a.valid-token-value-123").await;
    assert_eq!(bad_token.status, StatusCode::UNAUTHORIZED);
    app.stop().await;

    let text = String::from_utf8(captured.0.lock().unwrap().clone()).expect("utf-8 logs");
    assert!(text.lines().count() > 10, "logs were captured at trace level:\n{text}");
    let mut secrets = vec![PASSWORD.to_owned(), wrong_password.to_owned(), token.clone()];
    // A token's signature alone is as good as the token for an attacker who has the rest.
    secrets.extend(token.rsplit('.').next().map(str::to_owned));
    secrets.extend(refresh);
    secrets.push("not.a.valid-token-value-123".to_owned());
    for secret in &secrets {
        assert!(!text.contains(secret.as_str()), "a secret reached the logs: {secret}");
    }

    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}")))
        .collect();
    for line in &lines {
        for key in ["timestamp", "level", "target"] {
            assert!(line[key].is_string(), "{key} missing: {line}");
        }
    }
    let served: Vec<&Value> = lines.iter().filter(|l| l["message"] == "request served").collect();
    assert_eq!(served.len(), 7, "one access-log line per request");
    for line in &served {
        assert!(line["request_id"].is_string(), "{line}");
        assert!(line["trace_id"].as_str().is_some_and(|t| t.len() == 32), "{line}");
        assert!(line["http.request.method"].is_string() && line["http.route"].is_string(), "{line}");
        assert!(line["http.response.status_code"].is_u64() && line["duration_ms"].is_u64(), "{line}");
    }
    let order_line = served.iter().find(|l| l["request_id"] == order_request_id.as_str()).expect("the order's line");
    assert_eq!(order_line["http.route"], "/api/v1/orders");
    assert_eq!(order_line["http.request.method"], "POST");
    assert_eq!(order_line["http.response.status_code"], 201);
    assert_eq!(order_line["user_id"], user_id.as_str());
    // Lines logged inside the request (the service's, the store's) carry its identifiers too.
    let inside = lines.iter().filter(|l| l["request_id"] == order_request_id.as_str()).count();
    assert!(inside >= 1, "{text}");
}
