//! The assembled application against mocked domain ports: what a client sees.

use crate::{ApiState, HttpConfig, app};
use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::{Method, StatusCode, header};
use actix_web::test::{self, TestRequest};
use brokerage_domain::accounts::{
    Account, AccountService, CashError, MockAccountStore, MockLedgerStore, MoveCashError,
};
use brokerage_domain::api_keys::{ApiKeyPorts, ApiKeyService, MockApiKeyStore, MockNonceStore};
use brokerage_domain::crypto::{MockOneTimeCodes, MockSecretCipher, MockSignatures, MockTokenDigests};
use brokerage_domain::ids::{AccountId, OrderId};
use brokerage_domain::limits::{Decision, MockRateLimiter};
use brokerage_domain::market::{Asset, MockAssetStore, MockQuoteProvider, Quote, QuoteError, Symbol};
use brokerage_domain::orders::settlement::SettlementError;
use brokerage_domain::orders::{
    CancelStoreError, MockOrderStore, Order, OrderService, OrderStatus, OrderType, Side, TimeInForce,
};
use brokerage_domain::positions::{MockPositionStore, Position, PositionValuer};
use brokerage_domain::system::{HealthCheck, SystemClock, UuidV7Generator};
use brokerage_domain::users::{
    AccessToken, AuthPorts, AuthService, Credentials, Email, LoginLimit, MockPasswordHasher, MockSessionStore,
    MockTokenIssuer, MockTwoFactorStore, MockUserStore, PasswordHash, Role, TokenError, User, UserStatus,
};
use brokerage_domain::values::{Money, Price, Quantity};
use brokerage_domain::{Page, Principal};
use chrono::Utc;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

pub(crate) const GOOD_TOKEN: &str = "good-token";
const EXPIRED_TOKEN: &str = "expired-token";
const PASSWORD: &str = "correct horse battery";

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).expect("decimal literal")
}

/// Every port mocked; tests set the expectations they need before [`Mocks::state`].
pub(crate) struct Mocks {
    pub(crate) caller: Principal,
    users: MockUserStore,
    hasher: MockPasswordHasher,
    tokens: MockTokenIssuer,
    accounts: MockAccountStore,
    ledger: MockLedgerStore,
    positions: MockPositionStore,
    orders: MockOrderStore,
    pub(crate) health: Vec<Arc<dyn HealthCheck>>,
}

impl Mocks {
    pub(crate) fn new() -> Self {
        let caller = Principal::for_tests(Role::Customer);
        let mut tokens = MockTokenIssuer::new();
        tokens.expect_verify().returning(move |token, _| match token {
            GOOD_TOKEN => Ok(caller),
            EXPIRED_TOKEN => Err(TokenError::Expired),
            _ => Err(TokenError::Invalid),
        });
        Self {
            caller,
            users: MockUserStore::new(),
            hasher: MockPasswordHasher::new(),
            tokens,
            accounts: MockAccountStore::new(),
            ledger: MockLedgerStore::new(),
            positions: MockPositionStore::new(),
            orders: MockOrderStore::new(),
            health: Vec::new(),
        }
    }

    pub(crate) fn state(self) -> ApiState {
        let mut quotes = MockQuoteProvider::new();
        quotes.expect_quote().returning(|symbol| match symbol.as_str() {
            "AAPL" => Ok(quote(symbol, false)),
            "STALE" => Ok(quote(symbol, true)),
            "DOWN" => Err(QuoteError::Unavailable(anyhow::anyhow!("provider timed out"))),
            _ => Err(QuoteError::UnknownSymbol),
        });
        let quotes: Arc<MockQuoteProvider> = Arc::new(quotes);
        let positions = Arc::new(self.positions);
        let users: Arc<MockUserStore> = Arc::new(self.users);
        ApiState {
            api_keys: ApiKeyService::new(ApiKeyPorts {
                keys: Arc::new(MockApiKeyStore::new()),
                users: users.clone(),
                nonces: Arc::new(MockNonceStore::new()),
                cipher: Arc::new(MockSecretCipher::new()),
                digests: Arc::new(digests()),
                signatures: Arc::new(MockSignatures::new()),
                clock: Arc::new(SystemClock),
                ids: Arc::new(UuidV7Generator),
            }),
            auth: AuthService::new(
                AuthPorts {
                    users,
                    hasher: Arc::new(self.hasher),
                    tokens: Arc::new(self.tokens),
                    // Every session is live: these tests are about the HTTP layer.
                    sessions: Arc::new(live_sessions()),
                    digests: Arc::new(digests()),
                    two_factor: Arc::new(MockTwoFactorStore::new()),
                    codes: Arc::new(MockOneTimeCodes::new()),
                    cipher: Arc::new(MockSecretCipher::new()),
                    limiter: Arc::new(unlimited()),
                    clock: Arc::new(SystemClock),
                    ids: Arc::new(UuidV7Generator),
                },
                chrono::Duration::days(7),
                LoginLimit::default(),
            ),
            accounts: AccountService::new(
                Arc::new(self.accounts),
                Arc::new(self.ledger),
                positions.clone(),
                PositionValuer::new(quotes.clone()),
                Arc::new(SystemClock),
                Arc::new(UuidV7Generator),
            ),
            orders: OrderService::new(
                Arc::new(self.orders),
                positions,
                Arc::new(assets()),
                quotes.clone(),
                Arc::new(SystemClock),
                Arc::new(UuidV7Generator),
                d("0.05"),
            ),
            webhooks: brokerage_domain::webhooks::WebhookService::new(
                brokerage_domain::webhooks::WebhookPorts {
                    store: Arc::new(brokerage_domain::webhooks::MockWebhookStore::new()),
                    events: Arc::new(brokerage_domain::orders::MockEventStore::new()),
                    cipher: Arc::new(MockSecretCipher::new()),
                    digests: Arc::new(digests()),
                    clock: Arc::new(SystemClock),
                    ids: Arc::new(UuidV7Generator),
                },
                false,
            ),
            quotes,
            health: self.health,
            funding: None,
            streams: crate::events::EventStreams::default(),
            ops: crate::Ops::default(),
        }
    }
}

/// A limiter that never limits: login throttling is the domain's, tested there.
fn unlimited() -> MockRateLimiter {
    let mut limiter = MockRateLimiter::new();
    limiter.expect_check().returning(|_, limit, window| Ok(Decision::from_count(1, limit, window)));
    limiter
}

fn live_sessions() -> MockSessionStore {
    let mut sessions = MockSessionStore::new();
    sessions.expect_is_active().returning(|_, _| Ok(true));
    sessions.expect_create().returning(|_| Ok(()));
    sessions
}

fn digests() -> MockTokenDigests {
    let mut digests = MockTokenDigests::new();
    digests.expect_random_token().returning(|_| "r".repeat(43));
    digests.expect_digest().returning(|t| format!("sha256({t})"));
    digests
}

fn quote(symbol: &Symbol, stale: bool) -> Quote {
    Quote {
        symbol: symbol.clone(),
        price: Price::new(d("150.25")).expect("valid"),
        bid: Price::new(d("150.2")).expect("valid"),
        ask: Price::new(d("150.3")).expect("valid"),
        as_of: Utc::now(),
        source: "test",
        stale,
        // Fresh from a cache with a 60 s TTL; nothing left once stale.
        max_age: Some(Duration::from_secs(if stale { 0 } else { 60 })),
    }
}

/// Every symbol is a listed, fractionable asset except TWTR (delisted) and TQQQ (whole
/// shares only); whether it has a quote is the quote mock's business.
fn assets() -> MockAssetStore {
    let mut assets = MockAssetStore::new();
    assets.expect_get().returning(|symbol| {
        Ok(Some(Asset {
            symbol: symbol.clone(),
            name: format!("{symbol} Inc."),
            tradable: symbol.as_str() != "TWTR",
            fractionable: !["TWTR", "TQQQ"].contains(&symbol.as_str()),
            halted: false,
        }))
    });
    assets
}

fn account(caller: &Principal, cash: &str) -> Account {
    let mut account = Account::open(caller.account_id, caller.user_id, Utc::now());
    account.cash = Money::new(d(cash)).expect("valid");
    account
}

fn order(caller: &Principal) -> Order {
    let mut o = Order::submitted(
        OrderId::from_uuid(Uuid::now_v7()),
        caller.account_id,
        Symbol::parse("AAPL").expect("valid"),
        Side::Buy,
        OrderType::Limit,
        TimeInForce::Day,
        Quantity::new(d("0.5")).expect("valid"),
        Utc::now(),
    );
    o.limit_price = Some(Price::new(d("140.5")).expect("valid"));
    o
}

fn config() -> HttpConfig {
    HttpConfig { workers: 1, max_body_bytes: 1024, shutdown_timeout_secs: 1, ..HttpConfig::default() }
}

/// Sends `req` to a fresh application built on `mocks`.
async fn send(mocks: Mocks, req: TestRequest) -> ServiceResponse<impl MessageBody> {
    let svc = test::init_service(app(mocks.state(), &config())).await;
    svc.call(req.to_request()).await.expect("the app answers every request")
}

fn header_of<B>(res: &ServiceResponse<B>, name: header::HeaderName) -> Option<String> {
    res.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

async fn json_of(res: ServiceResponse<impl MessageBody>) -> Value {
    let body = test::read_body(res).await;
    serde_json::from_slice(&body).unwrap_or_else(|e| panic!("not JSON ({e}): {body:?}"))
}

/// Checks the error envelope and that it carries the response's request id; returns the body.
async fn expect_error(res: ServiceResponse<impl MessageBody>, status: u16, code: &str) -> Value {
    assert_eq!(res.status().as_u16(), status, "status");
    let id = header_of(&res, header::HeaderName::from_static("x-request-id")).expect("x-request-id header");
    assert_eq!(header_of(&res, header::CONTENT_TYPE).as_deref(), Some("application/json"));
    let body = json_of(res).await;
    assert_eq!(body["error"], code, "{body}");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    assert!(body["details"].is_array(), "{body}");
    assert_eq!(body["request_id"], id.as_str(), "the body's request_id is the header's");
    body
}

fn authed(req: TestRequest) -> TestRequest {
    req.insert_header((header::AUTHORIZATION, format!("Bearer {GOOD_TOKEN}")))
}

fn is_uuid_v7(s: &str) -> bool {
    Uuid::parse_str(s).is_ok_and(|u| u.get_version_num() == 7)
}

// ---- request ids ---------------------------------------------------------------------------

#[actix_web::test]
async fn a_request_id_is_generated_when_the_client_sends_none() {
    let res = send(Mocks::new(), TestRequest::get().uri("/health/live")).await;
    assert_eq!(res.status(), StatusCode::OK);
    let id = header_of(&res, header::HeaderName::from_static("x-request-id")).expect("header");
    assert!(is_uuid_v7(&id), "{id}");
    assert_eq!(json_of(res).await, json!({"status": "ok"}));
}

#[actix_web::test]
async fn a_sane_client_request_id_is_echoed_and_an_unsafe_one_replaced() {
    let res =
        send(Mocks::new(), TestRequest::get().uri("/health/live").insert_header(("X-Request-Id", "abc-123"))).await;
    assert_eq!(header_of(&res, header::HeaderName::from_static("x-request-id")).as_deref(), Some("abc-123"));

    for bad in ["has spaces in it", &"x".repeat(129)] {
        let res = send(Mocks::new(), TestRequest::get().uri("/health/live").insert_header(("X-Request-Id", bad))).await;
        let id = header_of(&res, header::HeaderName::from_static("x-request-id")).expect("header");
        assert!(is_uuid_v7(&id), "{bad:?} → {id}");
    }
}

#[actix_web::test]
async fn an_unknown_path_is_a_404_envelope_with_the_request_id() {
    let req = TestRequest::get().uri("/api/v1/nowhere").insert_header(("X-Request-Id", "req-404"));
    let body = expect_error(send(Mocks::new(), req).await, 404, "not_found").await;
    assert_eq!(body["request_id"], "req-404");
    expect_error(send(Mocks::new(), TestRequest::get().uri("/favicon.ico")).await, 404, "not_found").await;
}

#[actix_web::test]
async fn a_wrong_method_gets_the_envelope_too() {
    let res = send(Mocks::new(), authed(TestRequest::with_uri("/api/v1/account").method(Method::PUT))).await;
    expect_error(res, 405, "method_not_allowed").await;
}

#[actix_web::test]
async fn a_json_syntax_error_is_a_400_carrying_the_request_id() {
    let req = TestRequest::post()
        .uri("/api/v1/auth/login")
        .insert_header(("X-Request-Id", "req-400"))
        .insert_header(header::ContentType::json())
        .set_payload(r#"{"email": "#);
    let body = expect_error(send(Mocks::new(), req).await, 400, "validation_error").await;
    assert_eq!(body["request_id"], "req-400");
    assert_eq!(body["details"][0]["field"], "body");
}

// ---- bodies --------------------------------------------------------------------------------

#[actix_web::test]
async fn a_body_without_a_json_content_type_is_a_415() {
    let req = TestRequest::post().uri("/api/v1/auth/register").set_payload(r#"{"email": "a@b.co"}"#);
    expect_error(send(Mocks::new(), req).await, 415, "unsupported_media_type").await;
    let req = TestRequest::post()
        .uri("/api/v1/auth/register")
        .insert_header(header::ContentType::plaintext())
        .set_payload(r#"{"email": "a@b.co"}"#);
    expect_error(send(Mocks::new(), req).await, 415, "unsupported_media_type").await;
}

#[actix_web::test]
async fn a_body_over_the_limit_is_a_413() {
    let big = json!({"email": "ann@example.com", "password": "x".repeat(2000)});
    let req = TestRequest::post().uri("/api/v1/auth/login").set_json(big);
    expect_error(send(Mocks::new(), req).await, 413, "payload_too_large").await;
}

#[actix_web::test]
async fn an_unknown_field_is_refused_by_name() {
    let req = TestRequest::post().uri("/api/v1/auth/register").set_json(json!({
        "email": "ann@example.com", "password": PASSWORD, "role": "admin"
    }));
    let body = expect_error(send(Mocks::new(), req).await, 400, "validation_error").await;
    assert_eq!(body["details"], json!([{"field": "role", "message": "is not a known field"}]));
}

#[actix_web::test]
async fn a_bad_order_request_names_each_bad_field() {
    // Transport-level problems: values that are not what the field can hold.
    let req = authed(TestRequest::post().uri("/api/v1/orders")).set_json(json!({
        "symbol": "AAPL", "side": "hold", "type": "limit", "qty": "lots", "limit_price": "150.25"
    }));
    let body = expect_error(send(Mocks::new(), req).await, 400, "validation_error").await;
    let fields: Vec<&str> =
        body["details"].as_array().expect("array").iter().filter_map(|d| d["field"].as_str()).collect();
    assert_eq!(fields, vec!["side", "qty"]);

    // Domain rules between fields: a limit order needs a limit price; qty must be positive.
    let req = authed(TestRequest::post().uri("/api/v1/orders"))
        .set_json(json!({"symbol": "AAPL", "side": "buy", "type": "limit", "qty": -1}));
    let body = expect_error(send(Mocks::new(), req).await, 400, "validation_error").await;
    let fields: Vec<&str> =
        body["details"].as_array().expect("array").iter().filter_map(|d| d["field"].as_str()).collect();
    assert_eq!(fields, vec!["qty", "limit_price"]);
}

// ---- authentication ------------------------------------------------------------------------

#[actix_web::test]
async fn no_token_or_a_garbled_one_is_401_unauthenticated() {
    for auth in [None, Some("Bearer"), Some("Basic dXNlcjpwYXNz"), Some("Bearer not-a-token")] {
        let mut req = TestRequest::get().uri("/api/v1/account");
        if let Some(auth) = auth {
            req = req.insert_header((header::AUTHORIZATION, auth));
        }
        let res = send(Mocks::new(), req).await;
        assert_eq!(header_of(&res, header::WWW_AUTHENTICATE).as_deref(), Some("Bearer"), "{auth:?}");
        expect_error(res, 401, "unauthenticated").await;
    }
}

#[actix_web::test]
async fn an_expired_token_is_401_token_expired() {
    let req = TestRequest::get()
        .uri("/api/v1/account")
        .insert_header((header::AUTHORIZATION, format!("Bearer {EXPIRED_TOKEN}")));
    expect_error(send(Mocks::new(), req).await, 401, "token_expired").await;
}

#[actix_web::test]
async fn register_answers_201_with_the_user() {
    let mut mocks = Mocks::new();
    mocks.hasher.expect_hash().returning(|_| Ok(PasswordHash::new("phc".into())));
    mocks.users.expect_create_with_account().times(1).returning(|_, _, _| Ok(()));
    let req = TestRequest::post()
        .uri("/api/v1/auth/register")
        .set_json(json!({"email": "Ann@Example.com", "password": PASSWORD}));
    let res = send(mocks, req).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(header_of(&res, header::CACHE_CONTROL).as_deref(), Some("no-store"));
    let body = json_of(res).await;
    assert_eq!(body["email"], "ann@example.com");
    assert_eq!(
        (&body["role"], &body["status"], &body["totp_enabled"]),
        (&json!("customer"), &json!("active"), &json!(false))
    );
    assert!(body["id"].as_str().is_some_and(is_uuid_v7));
    assert!(body["created_at"].as_str().is_some_and(|t| t.ends_with('Z')), "{body}");
    assert!(body.get("password").is_none());
}

#[actix_web::test]
async fn register_refuses_a_short_password_and_a_taken_email() {
    let req = TestRequest::post()
        .uri("/api/v1/auth/register")
        .set_json(json!({"email": "ann@example.com", "password": "short"}));
    let body = expect_error(send(Mocks::new(), req).await, 400, "validation_error").await;
    assert_eq!(body["details"][0]["field"], "password");

    let mut mocks = Mocks::new();
    mocks.hasher.expect_hash().returning(|_| Ok(PasswordHash::new("phc".into())));
    mocks
        .users
        .expect_create_with_account()
        .returning(|_, _, _| Err(brokerage_domain::users::CreateUserError::EmailTaken));
    let req = TestRequest::post()
        .uri("/api/v1/auth/register")
        .set_json(json!({"email": "ann@example.com", "password": PASSWORD}));
    expect_error(send(mocks, req).await, 409, "conflict").await;
}

fn login_mocks() -> Mocks {
    let mut mocks = Mocks::new();
    let caller = mocks.caller;
    mocks.users.expect_credentials_by_email().returning(move |email| {
        Ok((email.as_str() == "ann@example.com").then(|| Credentials {
            user: User {
                id: caller.user_id,
                email: Email::parse("ann@example.com").expect("valid"),
                role: Role::Customer,
                status: UserStatus::Active,
                totp_enabled: false,
                created_at: Utc::now(),
            },
            password_hash: PasswordHash::new("phc".into()),
            account_id: caller.account_id,
        }))
    });
    mocks.hasher.expect_verify().returning(|candidate, hash| Ok(hash.is_some() && candidate == PASSWORD));
    mocks.tokens.expect_issue().returning(|_, _| Ok(AccessToken { token: "jwt".into(), expires_in_seconds: 900 }));
    mocks
}

#[actix_web::test]
async fn login_answers_tokens_or_invalid_credentials() {
    let req = TestRequest::post()
        .uri("/api/v1/auth/login")
        .set_json(json!({"email": "ann@example.com", "password": PASSWORD}));
    let res = send(login_mocks(), req).await;
    assert_eq!(res.status(), StatusCode::OK);
    let body = json_of(res).await;
    assert_eq!(
        (&body["access_token"], &body["token_type"], &body["expires_in"]),
        (&json!("jwt"), &json!("Bearer"), &json!(900))
    );
    assert!(body["refresh_token"].as_str().is_some_and(|t| t.ends_with(&"r".repeat(43))), "{body}");

    for (email, password) in [("ann@example.com", "wrong password!"), ("nobody@example.com", PASSWORD), ("x", "y")] {
        let req = TestRequest::post().uri("/api/v1/auth/login").set_json(json!({"email": email, "password": password}));
        expect_error(send(login_mocks(), req).await, 401, "invalid_credentials").await;
    }
}

// ---- account -------------------------------------------------------------------------------

#[actix_web::test]
async fn the_account_shows_decimal_strings_and_is_never_cached() {
    let mut mocks = Mocks::new();
    let caller = mocks.caller;
    mocks.positions.expect_book().returning(move |_| {
        let mut a = account(&caller, "1000.5000");
        a.held = Money::new(d("70.25")).expect("valid");
        let position = Position {
            account_id: caller.account_id,
            symbol: Symbol::parse("AAPL").expect("valid"),
            qty: d("2"),
            held: Decimal::ZERO,
            cost_basis: Money::new(d("280")).expect("valid"),
            lots: Vec::new(),
        };
        Ok(Some((a, vec![position])))
    });
    let res = send(mocks, authed(TestRequest::get().uri("/api/v1/account"))).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(header_of(&res, header::CACHE_CONTROL).as_deref(), Some("no-store"));
    let body = json_of(res).await;
    assert_eq!(body["id"], caller.account_id.to_string());
    assert_eq!(body["currency"], "USD");
    assert_eq!(body["cash"], "1000.5");
    assert_eq!(body["buying_power"], "930.25");
    assert_eq!(body["long_market_value"], "300.5");
    assert_eq!(body["equity"], "1301");
    assert_eq!(body["status"], "active");
}

#[actix_web::test]
async fn a_deposit_answers_201_with_the_activity() {
    let mut mocks = Mocks::new();
    let caller = mocks.caller;
    mocks.accounts.expect_move_cash().times(1).returning(move |_| Ok(account(&caller, "100.5")));
    let req = authed(TestRequest::post().uri("/api/v1/account/deposits")).set_json(json!({"amount": 100.5}));
    let res = send(mocks, req).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let body = json_of(res).await;
    assert_eq!((&body["type"], &body["amount"]), (&json!("deposit"), &json!("100.5")));
    // Optional trade fields are left out, not null.
    assert!(body.get("order_id").is_none() && body.get("symbol").is_none(), "{body}");
}

#[actix_web::test]
async fn withdrawals_report_insufficient_funds_and_inactive_accounts() {
    for (rejection, code) in
        [(CashError::Insufficient, "insufficient_funds"), (CashError::NotActive, "account_not_active")]
    {
        let mut mocks = Mocks::new();
        mocks.accounts.expect_move_cash().returning(move |_| Err(MoveCashError::Rejected(rejection.clone())));
        let req = authed(TestRequest::post().uri("/api/v1/account/withdrawals")).set_json(json!({"amount": "5"}));
        expect_error(send(mocks, req).await, 422, code).await;
    }
    let req = authed(TestRequest::post().uri("/api/v1/account/withdrawals")).set_json(json!({"amount": "5.00001"}));
    let body = expect_error(send(Mocks::new(), req).await, 400, "validation_error").await;
    assert_eq!(body["details"][0]["field"], "amount");
}

#[actix_web::test]
async fn a_closed_account_cannot_trade() {
    let mut mocks = Mocks::new();
    mocks.orders.expect_place().returning(|_, _, _| {
        Err(brokerage_domain::orders::StoreOrderError::Rejected(SettlementError::AccountNotActive))
    });
    let req = authed(TestRequest::post().uri("/api/v1/orders"))
        .set_json(json!({"symbol": "AAPL", "side": "buy", "type": "market", "qty": 1}));
    expect_error(send(mocks, req).await, 422, "account_not_active").await;
}

#[actix_web::test]
async fn activities_limit_out_of_range_is_named() {
    let req = authed(TestRequest::get().uri("/api/v1/account/activities?limit=501"));
    let body = expect_error(send(Mocks::new(), req).await, 400, "validation_error").await;
    assert_eq!(body["details"][0]["field"], "limit");
}

#[actix_web::test]
async fn a_query_string_serde_refuses_is_a_400() {
    // A repeated key is a shape error of the query as a whole.
    let req = authed(TestRequest::get().uri("/api/v1/orders?limit=1&limit=2"));
    let body = expect_error(send(Mocks::new(), req).await, 400, "validation_error").await;
    assert_eq!(body["details"][0]["field"], "query");
}

// ---- orders --------------------------------------------------------------------------------

#[actix_web::test]
async fn placing_an_order_answers_201_with_the_order() {
    let mut mocks = Mocks::new();
    mocks.orders.expect_place().times(1).returning(|o, _, _| Ok(o.clone()));
    let req = authed(TestRequest::post().uri("/api/v1/orders")).set_json(json!({
        "symbol": "aapl", "side": "buy", "type": "limit", "qty": "0.5", "limit_price": 140.5,
        "client_order_id": "mine-1"
    }));
    let res = send(mocks, req).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let body = json_of(res).await;
    assert_eq!(body["symbol"], "AAPL");
    assert_eq!(
        (&body["type"], &body["time_in_force"], &body["status"]),
        (&json!("limit"), &json!("day"), &json!("new"))
    );
    assert_eq!(
        (&body["qty"], &body["limit_price"], &body["filled_qty"]),
        (&json!("0.5"), &json!("140.5"), &json!("0"))
    );
    assert_eq!(body["client_order_id"], "mine-1");
    assert!(body["filled_avg_price"].is_null() && body["notional"].is_null());
}

#[actix_web::test]
async fn business_refusals_of_an_order_are_422_or_409() {
    use brokerage_domain::orders::StoreOrderError;
    type Refusal = fn() -> StoreOrderError;
    let cases: [(Refusal, u16, &str); 3] = [
        (|| StoreOrderError::Rejected(SettlementError::InsufficientBuyingPower), 422, "insufficient_buying_power"),
        (|| StoreOrderError::Rejected(SettlementError::InsufficientPosition), 422, "insufficient_position"),
        (|| StoreOrderError::DuplicateClientOrderId, 409, "duplicate_client_order_id"),
    ];
    for (err, status, code) in cases {
        let mut mocks = Mocks::new();
        mocks.orders.expect_place().returning(move |_, _, _| Err(err()));
        let req = authed(TestRequest::post().uri("/api/v1/orders"))
            .set_json(json!({"symbol": "AAPL", "side": "buy", "type": "market", "qty": 1}));
        expect_error(send(mocks, req).await, status, code).await;
    }
    let req = authed(TestRequest::post().uri("/api/v1/orders"))
        .set_json(json!({"symbol": "ZZZZ", "side": "buy", "type": "market", "qty": 1}));
    expect_error(send(Mocks::new(), req).await, 422, "unknown_symbol").await;
    let req = authed(TestRequest::post().uri("/api/v1/orders"))
        .set_json(json!({"symbol": "DOWN", "side": "buy", "type": "market", "qty": 1}));
    let body = expect_error(send(Mocks::new(), req).await, 503, "unavailable").await;
    assert!(!body.to_string().contains("timed out"), "library text leaked: {body}");
}

#[actix_web::test]
async fn orders_by_id_hide_malformed_and_foreign_ids() {
    expect_error(
        send(Mocks::new(), authed(TestRequest::get().uri("/api/v1/orders/not-a-uuid"))).await,
        404,
        "not_found",
    )
    .await;

    let mut mocks = Mocks::new();
    let mut theirs = order(&mocks.caller);
    theirs.account_id = AccountId::from_uuid(Uuid::now_v7());
    mocks.orders.expect_get().returning(move |_| Ok(Some(theirs.clone())));
    let uri = format!("/api/v1/orders/{}", Uuid::now_v7());
    expect_error(send(mocks, authed(TestRequest::get().uri(&uri))).await, 404, "not_found").await;
}

#[actix_web::test]
async fn orders_are_listed_as_a_page_and_found_by_client_id() {
    let mut mocks = Mocks::new();
    let caller = mocks.caller;
    mocks.orders.expect_list().returning(move |_, filter, page| {
        assert_eq!(filter.symbol.as_ref().map(Symbol::as_str), Some("AAPL"));
        assert_eq!(page.limit(), 1);
        let o = order(&caller);
        Ok(Page { next_cursor: Some(o.id), items: vec![o] })
    });
    mocks.orders.expect_get_by_client_id().returning(move |_, id| {
        let mut o = order(&caller);
        o.client_order_id = Some(id.clone());
        Ok(Some(o))
    });
    let svc = test::init_service(app(mocks.state(), &config())).await;
    let res = svc
        .call(authed(TestRequest::get().uri("/api/v1/orders?status=all&symbol=aapl&limit=1")).to_request())
        .await
        .expect("answer");
    assert_eq!(res.status(), StatusCode::OK);
    let body = json_of(res).await;
    assert_eq!(body["data"].as_array().map(Vec::len), Some(1));
    assert_eq!(body["next_cursor"], body["data"][0]["id"]);

    let res = svc
        .call(authed(TestRequest::get().uri("/api/v1/orders/by-client-id/mine-1")).to_request())
        .await
        .expect("answer");
    assert_eq!(json_of(res).await["client_order_id"], "mine-1");
}

#[actix_web::test]
async fn canceling_answers_the_canceled_order_or_422() {
    let mut mocks = Mocks::new();
    let caller = mocks.caller;
    mocks.orders.expect_cancel().returning(move |_, _, at| {
        let mut o = order(&caller);
        o.close(OrderStatus::Canceled, at).expect("open order");
        Ok(o)
    });
    let uri = format!("/api/v1/orders/{}", Uuid::now_v7());
    let res = send(mocks, authed(TestRequest::delete().uri(&uri))).await;
    assert_eq!(res.status(), StatusCode::OK);
    let body = json_of(res).await;
    assert_eq!(body["status"], "canceled");
    assert!(body["canceled_at"].is_string());

    let mut mocks = Mocks::new();
    mocks.orders.expect_cancel().returning(|_, _, _| {
        Err(CancelStoreError::Rejected(SettlementError::Transition(brokerage_domain::orders::TransitionError::NotOpen)))
    });
    expect_error(send(mocks, authed(TestRequest::delete().uri(&uri))).await, 422, "order_not_cancelable").await;
}

// ---- positions and market data -------------------------------------------------------------

#[actix_web::test]
async fn positions_are_a_page_and_a_missing_one_is_404() {
    let mut mocks = Mocks::new();
    let caller = mocks.caller;
    mocks.positions.expect_list().returning(move |_, _| {
        Ok(Page {
            items: vec![Position {
                account_id: caller.account_id,
                symbol: Symbol::parse("AAPL").expect("valid"),
                qty: d("2"),
                held: Decimal::ZERO,
                cost_basis: Money::new(d("280")).expect("valid"),
                lots: Vec::new(),
            }],
            next_cursor: None,
        })
    });
    mocks.positions.expect_get().returning(|_, _| Ok(None));
    let svc = test::init_service(app(mocks.state(), &config())).await;
    let res = svc.call(authed(TestRequest::get().uri("/api/v1/positions")).to_request()).await.expect("answer");
    let body = json_of(res).await;
    assert_eq!(
        body,
        json!({"data": [{
            "symbol": "AAPL", "qty": "2", "avg_entry_price": "140", "cost_basis": "280",
            "market_value": "300.5", "current_price": "150.25", "unrealized_pl": "20.5", "unrealized_plpc": "0.073214"
        }], "next_cursor": null})
    );
    let res = svc.call(authed(TestRequest::get().uri("/api/v1/positions/MSFT")).to_request()).await.expect("answer");
    expect_error(res, 404, "not_found").await;
}

#[actix_web::test]
async fn quotes_are_publicly_cacheable_and_unknown_symbols_404() {
    let res = send(Mocks::new(), authed(TestRequest::get().uri("/api/v1/market-data/quotes/aapl"))).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(header_of(&res, header::CACHE_CONTROL).as_deref(), Some("public, max-age=60"));
    let body = json_of(res).await;
    assert_eq!(
        (&body["symbol"], &body["price"], &body["bid"], &body["ask"]),
        (&json!("AAPL"), &json!("150.25"), &json!("150.2"), &json!("150.3"))
    );
    assert_eq!((&body["source"], &body["stale"]), (&json!("test"), &json!(false)));

    for symbol in ["ZZZZ", "not%20a%20symbol"] {
        let uri = format!("/api/v1/market-data/quotes/{symbol}");
        let res = send(Mocks::new(), authed(TestRequest::get().uri(&uri))).await;
        assert_eq!(header_of(&res, header::CACHE_CONTROL).as_deref(), Some("no-store"));
        expect_error(res, 404, "unknown_symbol").await;
    }
    let res = send(Mocks::new(), authed(TestRequest::get().uri("/api/v1/market-data/quotes/DOWN"))).await;
    expect_error(res, 503, "unavailable").await;
}

#[actix_web::test]
async fn a_stale_quote_is_served_marked_and_not_cacheable_but_not_traded_on() {
    let res = send(Mocks::new(), authed(TestRequest::get().uri("/api/v1/market-data/quotes/stale"))).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(header_of(&res, header::CACHE_CONTROL).as_deref(), Some("public, max-age=0"));
    assert_eq!(json_of(res).await["stale"], json!(true));

    let req = authed(TestRequest::post().uri("/api/v1/orders"))
        .set_json(json!({"symbol": "STALE", "side": "buy", "type": "market", "qty": 1}));
    expect_error(send(Mocks::new(), req).await, 503, "unavailable").await;
}

#[actix_web::test]
async fn delisted_symbols_are_unknown_and_whole_share_assets_refuse_fractions() {
    let req = authed(TestRequest::post().uri("/api/v1/orders"))
        .set_json(json!({"symbol": "TWTR", "side": "buy", "type": "market", "qty": 1}));
    expect_error(send(Mocks::new(), req).await, 422, "unknown_symbol").await;
    let req = authed(TestRequest::post().uri("/api/v1/orders"))
        .set_json(json!({"symbol": "TQQQ", "side": "buy", "type": "market", "qty": "1.5"}));
    let body = expect_error(send(Mocks::new(), req).await, 400, "validation_error").await;
    assert_eq!(body["details"][0]["field"], "qty", "{body}");
}

// ---- health --------------------------------------------------------------------------------

struct Check {
    name: &'static str,
    delay: Duration,
    result: Result<(), String>,
}

#[async_trait::async_trait]
impl HealthCheck for Check {
    fn name(&self) -> &'static str {
        self.name
    }

    async fn check(&self) -> Result<(), String> {
        tokio::time::sleep(self.delay).await;
        self.result.clone()
    }
}

#[actix_web::test]
async fn readiness_reports_each_dependency() {
    let mut mocks = Mocks::new();
    mocks.health = vec![Arc::new(Check { name: "postgres", delay: Duration::ZERO, result: Ok(()) })];
    let res = send(mocks, TestRequest::get().uri("/health/ready")).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(json_of(res).await, json!({"status": "ok", "checks": {"postgres": "ok"}}));
}

/// The market-data breaker, open: reported, not critical.
struct OpenBreaker;

#[async_trait::async_trait]
impl HealthCheck for OpenBreaker {
    fn name(&self) -> &'static str {
        "market_data"
    }

    async fn check(&self) -> Result<(), String> {
        Err("open".to_owned())
    }

    fn critical(&self) -> bool {
        false
    }
}

#[actix_web::test]
async fn a_failed_non_critical_check_is_reported_but_the_instance_stays_ready() {
    let mut mocks = Mocks::new();
    mocks.health =
        vec![Arc::new(Check { name: "postgres", delay: Duration::ZERO, result: Ok(()) }), Arc::new(OpenBreaker)];
    let res = send(mocks, TestRequest::get().uri("/health/ready")).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(json_of(res).await, json!({"status": "degraded", "checks": {"postgres": "ok", "market_data": "open"}}));
}

#[actix_web::test]
async fn readiness_fails_on_an_error_or_a_check_slower_than_two_seconds() {
    let mut mocks = Mocks::new();
    mocks.health = vec![
        Arc::new(Check { name: "postgres", delay: Duration::ZERO, result: Ok(()) }),
        Arc::new(Check { name: "redis", delay: Duration::ZERO, result: Err("connection refused".into()) }),
        Arc::new(Check { name: "market_data", delay: Duration::from_secs(30), result: Ok(()) }),
    ];
    let started = std::time::Instant::now();
    let res = send(mocks, TestRequest::get().uri("/health/ready")).await;
    assert!(started.elapsed() < Duration::from_secs(5), "checks run concurrently with a timeout");
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        json_of(res).await,
        json!({"status": "unavailable", "checks": {
            "postgres": "ok", "redis": "connection refused", "market_data": "no answer within 2 s"
        }})
    );
}
