//! Harness for the end-to-end API suite: starts the real application on a free port, on the
//! memory adapters or on Postgres + Redis (a fresh database cloned from a migrated template
//! for every test), and talks to it over HTTP like any client.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use brokerage_app::startup::ServerHandle;
use brokerage_app::{Application, Settings};
use brokerage_domain::accounts::LedgerStore;
use brokerage_domain::users::UserStore;
use brokerage_domain::users::{Email, Role, UserChanges};
use brokerage_postgres::test_support::TestDatabase;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Memory,
    Postgres,
}

pub const PASSWORD: &str = "correct horse battery staple";

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub backend: Backend,
    handle: ServerHandle,
    users: std::sync::Arc<dyn UserStore>,
    ledger: std::sync::Arc<dyn LedgerStore>,
    shutdown: brokerage_http::events::Shutdown,
    pub db: Option<TestDatabase>,
}

/// Settings for trading scenarios: rate limits off, and the execution engine working the
/// book every 50 ms so that triggered orders fill within a test's patience.
pub fn trading_settings() -> Vec<(String, String)> {
    vec![
        ("BROKERAGE__RATE_LIMIT__ENABLED".to_owned(), "false".to_owned()),
        ("BROKERAGE__TRADING__ENGINE_INTERVAL_MS".to_owned(), "50".to_owned()),
    ]
}

/// The funding provider's secret the funding scenarios sign with.
pub const WEBHOOK_SECRET: &str = "whsec-test-funding-provider-0123456789";

/// [`trading_settings`] plus a commission of 1 cent a share, at least $1 a fill, and the
/// funding webhook's secret.
pub fn fee_settings() -> Vec<(String, String)> {
    let mut s = trading_settings();
    s.push(("BROKERAGE__TRADING__COMMISSION_PER_SHARE".to_owned(), "0.01".to_owned()));
    s.push(("BROKERAGE__TRADING__COMMISSION_MINIMUM".to_owned(), "1".to_owned()));
    s.push(("WEBHOOK_SECRET".to_owned(), WEBHOOK_SECRET.to_owned()));
    s
}

/// One server-sent event.
#[derive(Debug, Clone)]
pub struct SseEvent {
    pub id: u64,
    pub event: String,
    pub data: Value,
}

/// An open `GET /api/v1/events` stream, read frame by frame.
pub struct EventStream {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    response: reqwest::Response,
    buffer: String,
    /// Comment lines seen (`: keep-alive`, `: connected`).
    pub comments: usize,
}

impl EventStream {
    /// The next event, or `None` when none comes within `within` (or the stream ended).
    pub async fn next_event(&mut self, within: std::time::Duration) -> Option<SseEvent> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let (mut id, mut event, mut data) = (None, None, None);
                for line in block.lines() {
                    if line.starts_with(':') {
                        self.comments += 1;
                    } else if let Some(v) = line.strip_prefix("id: ") {
                        id = v.parse::<u64>().ok();
                    } else if let Some(v) = line.strip_prefix("event: ") {
                        event = Some(v.to_owned());
                    } else if let Some(v) = line.strip_prefix("data: ") {
                        data = Some(serde_json::from_str(v).expect("event data is JSON"));
                    }
                }
                if let (Some(id), Some(event), Some(data)) = (id, event, data) {
                    return Some(SseEvent { id, event, data });
                }
            }
            let chunk = tokio::time::timeout_at(deadline, self.response.chunk()).await;
            match chunk {
                Ok(Ok(Some(bytes))) => self.buffer.push_str(std::str::from_utf8(&bytes).expect("utf-8")),
                Ok(Ok(None)) | Ok(Err(_)) | Err(_) => return None,
            }
        }
    }

    /// Every event arriving within `within` of each other, until quiet.
    pub async fn drain(&mut self, within: std::time::Duration) -> Vec<SseEvent> {
        let mut events = Vec::new();
        while let Some(e) = self.next_event(within).await {
            events.push(e);
        }
        events
    }

    /// Whether the server ended the stream within `within`.
    pub async fn ended_within(&mut self, within: std::time::Duration) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            match tokio::time::timeout_at(deadline, self.response.chunk()).await {
                Ok(Ok(Some(_))) => continue,
                Ok(Ok(None)) | Ok(Err(_)) => return true,
                Err(_) => return false,
            }
        }
    }
}

/// A response, read once.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Reply {
    /// The error code of an error envelope.
    pub fn error(&self) -> &str {
        self.body["error"].as_str().unwrap_or("<no envelope>")
    }
}

/// A registered, logged-in user.
pub struct Customer {
    pub email: String,
    pub token: String,
    pub refresh_token: String,
}

impl TestApp {
    /// The application with rate limits off: scenarios log in and trade far faster than a
    /// person, and on Postgres + Redis every test shares the same counters.
    pub async fn spawn(backend: Backend) -> TestApp {
        Self::spawn_with(backend, vec![("BROKERAGE__RATE_LIMIT__ENABLED".to_owned(), "false".to_owned())]).await
    }

    /// The application with extra settings (`BROKERAGE__…` pairs) over the test defaults.
    pub async fn spawn_with(backend: Backend, overrides: Vec<(String, String)>) -> TestApp {
        let mut env = vec![
            ("BROKERAGE__HTTP__HOST".to_owned(), "127.0.0.1".to_owned()),
            ("BROKERAGE__HTTP__PORT".to_owned(), "0".to_owned()),
            ("BROKERAGE__HTTP__WORKERS".to_owned(), "2".to_owned()),
            ("BROKERAGE__AUTH__JWT_SECRET".to_owned(), "test-secret-test-secret-test-secret-0123".to_owned()),
            ("BROKERAGE__SECURITY__ENCRYPTION_KEY".to_owned(), "0f".repeat(32)),
        ];
        let db = match backend {
            Backend::Memory => None,
            Backend::Postgres => {
                let db =
                    TestDatabase::new().await.expect("a test database (DATABASE_URL must point at a Postgres server)");
                let redis = std::env::var("REDIS_URL")
                    .expect("REDIS_URL must point at a Redis server (make test provides one)");
                env.push(("DATABASE_URL".to_owned(), db.url().to_owned()));
                env.push(("REDIS_URL".to_owned(), redis));
                env.push(("BROKERAGE__DATABASE__MAX_CONNECTIONS".to_owned(), "16".to_owned()));
                Some(db)
            }
        };
        env.extend(overrides);
        let settings = Settings::load_from(None, env).expect("test settings");
        let app = Application::build(settings).await.expect("application builds");
        let base = format!("http://127.0.0.1:{}", app.port());
        let handle = app.handle();
        let users = app.user_store();
        let ledger = app.ledger_store();
        let shutdown = app.shutdown_signal();
        tokio::spawn(app.run_until_stopped());
        TestApp { base, client: reqwest::Client::new(), backend, handle, users, ledger, shutdown, db }
    }

    pub async fn request(&self, method: Method, path: &str, token: Option<&str>, body: Option<Value>) -> Reply {
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request sent");
        let status = resp.status();
        let headers = resp.headers().clone();
        // An event stream never ends by itself: its head is the answer.
        if headers.get("content-type").is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream")) {
            return Reply { status, headers, body: Value::Null };
        }
        let bytes = resp.bytes().await.expect("body read");
        let body = if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap_or(Value::Null) };
        Reply { status, headers, body }
    }

    /// A request signed with an API key (headers as API.md says); `body` is sent verbatim.
    pub async fn signed_request(
        &self,
        method: Method,
        path: &str,
        key_id: &str,
        timestamp: &str,
        signature: &str,
        body: String,
    ) -> Reply {
        let mut req = self
            .client
            .request(method, format!("{}{path}", self.base))
            .header("X-Api-Key", key_id)
            .header("X-Timestamp", timestamp)
            .header("X-Signature", signature);
        if !body.is_empty() {
            req = req.header("Content-Type", "application/json").body(body);
        }
        let resp = req.send().await.expect("request sent");
        let (status, headers) = (resp.status(), resp.headers().clone());
        let bytes = resp.bytes().await.expect("body read");
        Reply { status, headers, body: serde_json::from_slice(&bytes).unwrap_or(Value::Null) }
    }

    pub async fn get(&self, path: &str, token: &str) -> Reply {
        self.request(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Reply {
        self.request(Method::POST, path, Some(token), Some(body)).await
    }

    pub async fn delete(&self, path: &str, token: &str) -> Reply {
        self.request(Method::DELETE, path, Some(token), None).await
    }

    pub async fn patch(&self, path: &str, token: &str, body: Value) -> Reply {
        self.request(Method::PATCH, path, Some(token), Some(body)).await
    }

    /// Opens `GET /api/v1/events`, resuming after `last_event_id` when given.
    pub async fn events(&self, token: &str, last_event_id: Option<u64>) -> EventStream {
        // Asks for compression as browsers do: the stream must still come uncompressed.
        let mut req = self
            .client
            .get(format!("{}/api/v1/events", self.base))
            .bearer_auth(token)
            .header("Accept-Encoding", "gzip, br");
        if let Some(id) = last_event_id {
            req = req.header("Last-Event-ID", id.to_string());
        }
        let response = req.send().await.expect("request sent");
        let (status, headers) = (response.status(), response.headers().clone());
        EventStream { status, headers, response, buffer: String::new(), comments: 0 }
    }

    /// `POST /api/v1/webhooks/funding` with `body` verbatim and the given `X-Signature`.
    pub async fn funding_webhook(&self, body: &str, signature: Option<&str>) -> Reply {
        let mut req = self
            .client
            .post(format!("{}/api/v1/webhooks/funding", self.base))
            .header("Content-Type", "application/json")
            .body(body.to_owned());
        if let Some(sig) = signature {
            req = req.header("X-Signature", sig);
        }
        let resp = req.send().await.expect("request sent");
        let (status, headers) = (resp.status(), resp.headers().clone());
        let bytes = resp.bytes().await.expect("body read");
        Reply { status, headers, body: serde_json::from_slice(&bytes).unwrap_or(Value::Null) }
    }

    /// The book's invariant violations (`LedgerStore::audit`, what `brokerage
    /// check-invariants` runs): empty when sound.
    pub async fn audit(&self) -> Vec<String> {
        self.ledger.audit().await.expect("the audit runs")
    }

    /// Polls `GET path` until `done` holds for the body, for at most `within`.
    pub async fn eventually(
        &self,
        path: &str,
        token: &str,
        within: std::time::Duration,
        done: impl Fn(&Value) -> bool,
    ) -> Reply {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let reply = self.get(path, token).await;
            if done(&reply.body) || tokio::time::Instant::now() >= deadline {
                return reply;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// Registers and logs in a new customer with a unique e-mail.
    pub async fn customer(&self) -> Customer {
        let email = format!("{}@example.com", uuid::Uuid::now_v7().simple());
        let reg = self
            .request(Method::POST, "/api/v1/auth/register", None, Some(json!({"email": email, "password": PASSWORD})))
            .await;
        assert_eq!(reg.status, StatusCode::CREATED, "register: {:?}", reg.body);
        self.login(&email, PASSWORD).await
    }

    pub async fn login(&self, email: &str, password: &str) -> Customer {
        let login = self
            .request(Method::POST, "/api/v1/auth/login", None, Some(json!({"email": email, "password": password})))
            .await;
        assert_eq!(login.status, StatusCode::OK, "login: {:?}", login.body);
        Customer {
            email: email.to_owned(),
            token: login.body["access_token"].as_str().expect("access_token").to_owned(),
            refresh_token: login.body["refresh_token"].as_str().expect("refresh_token").to_owned(),
        }
    }

    /// A user of `role`, logged in. Roles other than customer are granted through the store,
    /// as `brokerage create-admin` does: the API never lets anyone raise a role.
    pub async fn user_with_role(&self, role: Role) -> Customer {
        let c = self.customer().await;
        let email = Email::parse(&c.email).expect("valid");
        let creds = self.users.credentials_by_email(&email).await.expect("store").expect("registered");
        self.users.update(creds.user.id, &UserChanges { role: Some(role), status: None }).await.expect("store");
        self.login(&c.email, PASSWORD).await
    }

    /// A customer holding `cash` dollars.
    pub async fn funded_customer(&self, cash: &str) -> Customer {
        let c = self.customer().await;
        let dep = self.post("/api/v1/account/deposits", &c.token, json!({"amount": cash})).await;
        assert_eq!(dep.status, StatusCode::CREATED, "deposit: {:?}", dep.body);
        c
    }

    pub async fn stop(self) {
        // Open event streams end at once instead of holding the stop.
        self.shutdown.trigger();
        self.handle.stop(true).await;
    }
}
