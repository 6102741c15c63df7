//! Harness for the end-to-end API suite: starts the real application on a free port, on the
//! memory adapters or on Postgres + Redis (a fresh database cloned from a migrated template
//! for every test), and talks to it over HTTP like any client.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use brokerage_app::startup::ServerHandle;
use brokerage_app::{Application, Settings};
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
    pub db: Option<TestDatabase>,
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
        tokio::spawn(app.run_until_stopped());
        TestApp { base, client: reqwest::Client::new(), backend, handle, users, db }
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
        self.handle.stop(true).await;
    }
}
