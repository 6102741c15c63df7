//! Abuse suite (OWASP API Security Top 10, the cases that apply): broken object-level
//! authorization (another customer's ids → 404, exactly as an id that does not exist), broken
//! function-level authorization on the admin routes, mass assignment, forged and expired JWTs,
//! oversized, malformed and mistyped bodies, numbers out of range, duplicate JSON keys, NUL
//! bytes in strings and header injection. Every refusal is a 4xx with the error envelope
//! (`{error, message, request_id}`), never a 5xx, and nothing changes: the account's cash and
//! the orders are read before and after each attack.
//!
//! Already covered elsewhere and not repeated here: a refresh token used as an access token,
//! tokens after logout (`identity.rs`), every route × role (`rbac.rs`), idempotency keys of
//! another user (`idempotency.rs`).

use brokerage_domain::users::{Role, TokenIssuer};
use brokerage_e2e::{Customer, PASSWORD, Reply, TestApp};
use brokerage_security::{JwtConfig, JwtIssuer, JwtKey};
use reqwest::{Method, StatusCode};
use secrecy::SecretString;
use serde_json::{Value, json};
use std::io::{Read as _, Write as _};

/// `TestApp`'s JWT key (tests/src/lib.rs): the forgeries below sign with it or without it.
const JWT_SECRET: &str = "test-secret-test-secret-test-secret-0123";

/// What an attack must not change: the account's money and status, and every order.
#[derive(Debug, PartialEq)]
struct Snapshot {
    cash: Value,
    buying_power: Value,
    status: Value,
    orders: Value,
}

async fn snapshot(app: &TestApp, c: &Customer) -> Snapshot {
    let account = app.get("/api/v1/account", &c.token).await;
    assert_eq!(account.status, StatusCode::OK, "{:?}", account.body);
    let orders = app.get("/api/v1/orders?status=all&limit=500", &c.token).await;
    assert_eq!(orders.status, StatusCode::OK, "{:?}", orders.body);
    Snapshot {
        cash: account.body["cash"].clone(),
        buying_power: account.body["buying_power"].clone(),
        status: account.body["status"].clone(),
        orders: orders.body["data"].clone(),
    }
}

/// A 4xx with the error envelope.
fn assert_envelope(r: &Reply, what: &str) {
    assert!(r.status.is_client_error(), "{what}: {} {:?}", r.status, r.body);
    for field in ["error", "message", "request_id"] {
        assert!(r.body[field].is_string(), "{what}: no `{field}` in {:?}", r.body);
    }
}

fn assert_refused(r: &Reply, status: StatusCode, code: &str, what: &str) {
    assert_envelope(r, what);
    assert_eq!((r.status, r.error()), (status, code), "{what}: {:?}", r.body);
}

/// A request with a body sent verbatim and the given `Content-Type` (none when `None`).
async fn raw(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    content_type: Option<&str>,
    body: impl Into<reqwest::Body>,
) -> Reply {
    let mut req = app.client.request(method, format!("{}{path}", app.base)).body(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(ct) = content_type {
        req = req.header("Content-Type", ct);
    }
    let resp = req.send().await.expect("request sent");
    let (status, headers) = (resp.status(), resp.headers().clone());
    let bytes = resp.bytes().await.expect("body read");
    Reply { status, headers, body: serde_json::from_slice(&bytes).unwrap_or(Value::Null) }
}

async fn raw_json(app: &TestApp, path: &str, token: Option<&str>, body: String) -> Reply {
    raw(app, Method::POST, path, token, Some("application/json"), body).await
}

async fn user_id(app: &TestApp, c: &Customer) -> String {
    let me = app.get("/api/v1/me", &c.token).await;
    me.body["id"].as_str().expect("user id").to_owned()
}

// ---- API1: broken object-level authorization ------------------------------------------------

pub async fn another_customers_ids_are_not_found_on_every_route(app: &TestApp) {
    let alice = app.funded_customer("10000").await;
    let bob = app.funded_customer("1000").await;
    let resting = app
        .post(
            "/api/v1/orders",
            &alice.token,
            json!({"symbol": "KO", "side": "buy", "type": "limit", "qty": 1, "limit_price": "10",
                   "time_in_force": "gtc", "client_order_id": "alice-private-1"}),
        )
        .await;
    assert_eq!(resting.status, StatusCode::CREATED, "{:?}", resting.body);
    let order_id = resting.body["id"].as_str().expect("id").to_owned();
    let bought = app
        .post("/api/v1/orders", &alice.token, json!({"symbol": "AAPL", "side": "buy", "type": "market", "qty": 1}))
        .await;
    assert_eq!(bought.status, StatusCode::CREATED, "{:?}", bought.body);
    let key = app.post("/api/v1/api-keys", &alice.token, json!({"name": "bot", "scopes": ["read"]})).await;
    assert_eq!(key.status, StatusCode::CREATED, "{:?}", key.body);
    let key_id = key.body["id"].as_str().expect("key id").to_owned();
    let alice_before = snapshot(app, &alice).await;
    let bob_before = snapshot(app, &bob).await;

    // Each of alice's ids, and an id that exists nowhere: bob cannot tell them apart.
    let missing = uuid::Uuid::now_v7();
    let pairs = [
        (Method::GET, format!("/api/v1/orders/{order_id}"), format!("/api/v1/orders/{missing}")),
        (Method::DELETE, format!("/api/v1/orders/{order_id}"), format!("/api/v1/orders/{missing}")),
        (
            Method::GET,
            "/api/v1/orders/by-client-id/alice-private-1".to_owned(),
            "/api/v1/orders/by-client-id/nobody-has-this-1".to_owned(),
        ),
        (Method::DELETE, format!("/api/v1/api-keys/{key_id}"), format!("/api/v1/api-keys/{missing}")),
        (Method::GET, "/api/v1/positions/AAPL".to_owned(), "/api/v1/positions/MSFT".to_owned()),
    ];
    for (method, theirs, nobodys) in pairs {
        let a = app.request(method.clone(), &theirs, Some(&bob.token), None).await;
        let b = app.request(method.clone(), &nobodys, Some(&bob.token), None).await;
        assert_refused(&a, StatusCode::NOT_FOUND, "not_found", &format!("bob {method} {theirs}"));
        assert_eq!((a.status, &a.body["error"], &a.body["message"]), (b.status, &b.body["error"], &b.body["message"]));
        assert!(a.body.get("id").is_none() && a.body.get("symbol").is_none(), "no data leaks: {:?}", a.body);
    }
    // Lists are the caller's own.
    assert_eq!(app.get("/api/v1/api-keys", &bob.token).await.body["data"], json!([]));
    assert_eq!(app.get("/api/v1/positions", &bob.token).await.body["data"], json!([]));
    let activities = app.get("/api/v1/account/activities?limit=500", &bob.token).await;
    assert_eq!(activities.body["data"].as_array().map(Vec::len), Some(1), "only bob's deposit");

    assert_eq!(snapshot(app, &alice).await, alice_before, "alice's order was not canceled");
    assert_eq!(snapshot(app, &bob).await, bob_before);
    let keys = app.get("/api/v1/api-keys", &alice.token).await;
    assert_eq!(keys.body["data"][0]["id"], json!(key_id), "alice's key was not revoked");
    let position = app.get("/api/v1/positions/AAPL", &alice.token).await;
    assert_eq!(position.status, StatusCode::OK, "{:?}", position.body);
}

// ---- API5: broken function-level authorization ----------------------------------------------

pub async fn customers_and_support_cannot_use_admin_functions(app: &TestApp) {
    let customer = app.funded_customer("1000").await;
    let support = app.user_with_role(Role::Support).await;
    let customer_id = user_id(app, &customer).await;
    let support_id = user_id(app, &support).await;
    let before = snapshot(app, &customer).await;

    let mut attempts: Vec<(&Customer, Method, String, Option<Value>)> = Vec::new();
    for who in [&customer, &support] {
        attempts.push((
            who,
            Method::PATCH,
            format!("/api/v1/admin/users/{customer_id}"),
            Some(json!({"role": "admin"})),
        ));
        attempts.push((
            who,
            Method::PATCH,
            format!("/api/v1/admin/users/{support_id}"),
            Some(json!({"role": "admin"})),
        ));
        attempts.push((
            who,
            Method::PATCH,
            format!("/api/v1/admin/users/{customer_id}"),
            Some(json!({"status": "locked"})),
        ));
        attempts.push((who, Method::POST, "/api/v1/admin/symbols/AAPL/halt".to_owned(), None));
        attempts.push((who, Method::POST, "/api/v1/admin/symbols/AAPL/resume".to_owned(), None));
    }
    attempts.push((&customer, Method::GET, "/api/v1/admin/users".to_owned(), None));
    attempts.push((&customer, Method::GET, "/api/v1/admin/orders?status=all".to_owned(), None));
    for (who, method, path, body) in attempts {
        let r = app.request(method.clone(), &path, Some(&who.token), body).await;
        assert_refused(&r, StatusCode::FORBIDDEN, "forbidden", &format!("{} {method} {path}", who.email));
    }
    // Support reads, as the access table says.
    assert_eq!(app.get("/api/v1/admin/users", &support.token).await.status, StatusCode::OK);

    // Nothing changed: the roles, the customer can still log in, AAPL still trades.
    assert_eq!(app.get("/api/v1/me", &customer.token).await.body["role"], "customer");
    assert_eq!(app.get("/api/v1/me", &support.token).await.body["role"], "support");
    let again = app.login(&customer.email, PASSWORD).await;
    assert_eq!(snapshot(app, &again).await, before);
    let buy = app
        .post("/api/v1/orders", &again.token, json!({"symbol": "AAPL", "side": "buy", "type": "market", "qty": 1}))
        .await;
    assert_eq!(buy.status, StatusCode::CREATED, "AAPL was not halted: {:?}", buy.body);
}

// ---- API3/API6: mass assignment -------------------------------------------------------------

pub async fn extra_fields_are_refused_and_change_nothing(app: &TestApp) {
    let c = app.funded_customer("1000").await;
    let other = app.funded_customer("500").await;
    let other_account = app.get("/api/v1/account", &other.token).await.body["id"].clone();
    let before = snapshot(app, &c).await;
    let other_before = snapshot(app, &other).await;

    let smuggled = [
        ("role", json!("admin")),
        ("status", json!("active")),
        ("cash", json!("1000000")),
        ("buying_power", json!("1000000")),
        ("account_id", other_account.clone()),
        ("filled_qty", json!("5")),
        ("id", json!(uuid::Uuid::now_v7())),
    ];
    for (field, value) in &smuggled {
        let email = format!("mass-{}@example.com", uuid::Uuid::now_v7().simple());
        let mut register = json!({"email": email, "password": PASSWORD});
        register[*field] = value.clone();
        let r = app.request(Method::POST, "/api/v1/auth/register", None, Some(register)).await;
        assert_refused(&r, StatusCode::BAD_REQUEST, "validation_error", &format!("register + {field}"));
        assert_eq!(r.body["details"][0]["field"], *field);
        let login = app
            .request(Method::POST, "/api/v1/auth/login", None, Some(json!({"email": email, "password": PASSWORD})))
            .await;
        assert_refused(&login, StatusCode::UNAUTHORIZED, "invalid_credentials", "no user was created");

        for path in ["/api/v1/account/deposits", "/api/v1/account/withdrawals"] {
            let mut body = json!({"amount": "10"});
            body[*field] = value.clone();
            let r = app.post(path, &c.token, body).await;
            assert_refused(&r, StatusCode::BAD_REQUEST, "validation_error", &format!("{path} + {field}"));
        }
        let mut order = json!({"symbol": "AAPL", "side": "buy", "type": "market", "qty": 1});
        order[*field] = value.clone();
        let r = app.post("/api/v1/orders", &c.token, order).await;
        assert_refused(&r, StatusCode::BAD_REQUEST, "validation_error", &format!("order + {field}"));

        let mut key = json!({"name": "bot", "scopes": ["read"]});
        key[*field] = value.clone();
        let r = app.post("/api/v1/api-keys", &c.token, key).await;
        assert_refused(&r, StatusCode::BAD_REQUEST, "validation_error", &format!("api key + {field}"));
    }
    assert_eq!(snapshot(app, &c).await, before);
    assert_eq!(snapshot(app, &other).await, other_before);
    assert_eq!(app.get("/api/v1/api-keys", &c.token).await.body["data"], json!([]));
    assert_eq!(app.get("/api/v1/me", &c.token).await.body["role"], "customer");
}

// ---- API2: broken authentication (forged tokens) --------------------------------------------

fn b64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
        }
    }
    out
}

fn b64url_decode(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let sextets: Vec<u32> =
        text.bytes().map(|c| ALPHABET.iter().position(|a| *a == c).expect("base64url") as u32).collect();
    let mut out = Vec::new();
    for chunk in sextets.chunks(4) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, s)| n | (s << (18 - 6 * i)));
        for i in 0..chunk.len() - 1 {
            out.push((n >> (16 - 8 * i)) as u8);
        }
    }
    out
}

fn jwt_config(secret: &str, kid: &str, issuer: &str) -> JwtConfig {
    JwtConfig {
        current: JwtKey { kid: kid.to_owned(), secret: SecretString::from(secret.to_owned()) },
        previous: Vec::new(),
        issuer: issuer.to_owned(),
        audience: "brokerage-api".to_owned(),
        ttl_seconds: 900,
    }
}

pub async fn forged_and_expired_tokens_are_refused(app: &TestApp) {
    let c = app.funded_customer("1000").await;
    let before = snapshot(app, &c).await;
    let genuine = JwtIssuer::new(&jwt_config(JWT_SECRET, "k1", "brokerage")).expect("issuer");
    let now = chrono::Utc::now();
    let principal = genuine.verify(&c.token, now).expect("the harness' key signs the app's tokens");
    let parts: Vec<&str> = c.token.split('.').collect();
    assert_eq!(parts.len(), 3);

    // Sanity: a token the harness signs itself is accepted, so the refusals below are the forgery's.
    let own = genuine.issue(&principal, now).expect("issued").token;
    assert_eq!(app.get("/api/v1/account", &own).await.status, StatusCode::OK);

    let mut as_admin = principal;
    as_admin.role = Role::Admin;
    let mut claims: Value = serde_json::from_slice(&b64url_decode(parts[1])).expect("claims");
    claims["role"] = json!("admin");
    let escalated_payload = b64url(claims.to_string().as_bytes());
    let none_header = b64url(br#"{"alg":"none","typ":"JWT","kid":"k1"}"#);
    let hs512_header = b64url(br#"{"alg":"HS512","typ":"JWT","kid":"k1"}"#);
    let other_key = "another-secret-another-secret-0123456789";

    let unauthenticated = [
        ("alg none, no signature", format!("{none_header}.{}.", parts[1])),
        ("alg none, the real signature", format!("{none_header}.{}.{}", parts[1], parts[2])),
        ("alg none, role admin", format!("{none_header}.{escalated_payload}.")),
        ("alg HS512 header on an HS256 signature", format!("{hs512_header}.{}.{}", parts[1], parts[2])),
        ("payload changed to role admin", format!("{}.{escalated_payload}.{}", parts[0], parts[2])),
        (
            "signed with another key",
            JwtIssuer::new(&jwt_config(other_key, "k1", "brokerage"))
                .expect("issuer")
                .issue(&as_admin, now)
                .expect("jwt")
                .token,
        ),
        (
            "an unknown kid",
            JwtIssuer::new(&jwt_config(JWT_SECRET, "k9", "brokerage"))
                .expect("issuer")
                .issue(&principal, now)
                .expect("jwt")
                .token,
        ),
        (
            "another issuer",
            JwtIssuer::new(&jwt_config(JWT_SECRET, "k1", "evil"))
                .expect("issuer")
                .issue(&principal, now)
                .expect("jwt")
                .token,
        ),
        (
            "not valid before an hour from now",
            genuine.issue(&principal, now + chrono::Duration::hours(1)).expect("jwt").token,
        ),
        ("no signature", format!("{}.{}.", parts[0], parts[1])),
        ("two parts", format!("{}.{}", parts[0], parts[1])),
        ("empty", String::new()),
    ];
    for path in ["/api/v1/account", "/api/v1/admin/users"] {
        let r = app.request(Method::GET, path, None, None).await;
        assert_refused(&r, StatusCode::UNAUTHORIZED, "unauthenticated", "no token");
    }
    for (what, token) in &unauthenticated {
        for path in ["/api/v1/account", "/api/v1/admin/users"] {
            let r = app
                .client
                .get(format!("{}{path}", app.base))
                .header("Authorization", format!("Bearer {token}"))
                .send()
                .await
                .expect("sent");
            let status = r.status();
            let body: Value = r.json().await.unwrap_or(Value::Null);
            let reply = Reply { status, headers: reqwest::header::HeaderMap::new(), body };
            assert_refused(&reply, StatusCode::UNAUTHORIZED, "unauthenticated", &format!("{what} on {path}"));
        }
        let order = app
            .post("/api/v1/orders", token, json!({"symbol": "AAPL", "side": "buy", "type": "market", "qty": 1}))
            .await;
        assert_eq!(order.status, StatusCode::UNAUTHORIZED, "{what}");
        let deposit = app.post("/api/v1/account/deposits", token, json!({"amount": "1000000"})).await;
        assert_eq!(deposit.status, StatusCode::UNAUTHORIZED, "{what}");
    }

    let expired = genuine.issue(&principal, now - chrono::Duration::hours(1)).expect("jwt").token;
    let r = app.get("/api/v1/account", &expired).await;
    assert_refused(&r, StatusCode::UNAUTHORIZED, "token_expired", "expired an hour ago");
    let r = app.post("/api/v1/account/deposits", &expired, json!({"amount": "1000000"})).await;
    assert_refused(&r, StatusCode::UNAUTHORIZED, "token_expired", "expired deposit");

    // A token only travels in the Authorization header.
    let in_query = raw(app, Method::GET, &format!("/api/v1/account?access_token={}", c.token), None, None, "").await;
    assert_refused(&in_query, StatusCode::UNAUTHORIZED, "unauthenticated", "token in the query string");
    for scheme in ["Basic", "Token", "Bearer\tx"] {
        let r = app
            .client
            .get(format!("{}/api/v1/account", app.base))
            .header("Authorization", format!("{scheme} {}", c.token))
            .send()
            .await
            .expect("sent");
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{scheme}");
    }
    assert_eq!(snapshot(app, &c).await, before);
}

// ---- API4/API8: bodies --------------------------------------------------------------------

pub async fn oversized_malformed_and_mistyped_bodies_are_refused(app: &TestApp) {
    let c = app.funded_customer("1000").await;
    let before = snapshot(app, &c).await;
    let paths = ["/api/v1/orders", "/api/v1/account/deposits", "/api/v1/account/withdrawals", "/api/v1/api-keys"];

    // Over the 64 KiB default: 413, with or without an Idempotency-Key (read by a middleware).
    let huge = format!(r#"{{"amount": "10", "pad": "{}"}}"#, "x".repeat(70_000));
    for path in paths {
        let r = raw_json(app, path, Some(&c.token), huge.clone()).await;
        assert_refused(&r, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", path);
        let resp = app
            .client
            .post(format!("{}{path}", app.base))
            .bearer_auth(&c.token)
            .header("Content-Type", "application/json")
            .header("Idempotency-Key", format!("big-{}", uuid::Uuid::now_v7()))
            .body(huge.clone())
            .send()
            .await
            .expect("sent");
        let status = resp.status();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        let reply = Reply { status, headers: reqwest::header::HeaderMap::new(), body };
        assert_refused(&reply, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", &format!("{path} with a key"));
    }
    let r = raw_json(app, "/api/v1/auth/register", None, huge.clone()).await;
    assert_refused(&r, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", "register");

    // Not JSON, or not an object.
    for body in [
        r#"{"amount": "10""#,
        r#"{"amount": "10",}"#,
        r#"{amount: "10"}"#,
        r#"{'amount': '10'}"#,
        "amount=10",
        "",
        "[]",
        r#"["amount", "10"]"#,
        r#""10""#,
        "null",
        "10",
        "\u{feff}{\"amount\": \"10\"}",
        r#"{"amount": "10"} {"amount": "10"}"#,
    ] {
        for path in paths {
            let r = raw_json(app, path, Some(&c.token), body.to_owned()).await;
            assert_refused(&r, StatusCode::BAD_REQUEST, "validation_error", &format!("{path} {body:?}"));
        }
    }
    // Not declared as JSON.
    for content_type in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        Some("application/xml"),
        Some("multipart/form-data; boundary=x"),
        Some("application/jsonx"),
        None,
    ] {
        for path in paths {
            let r = raw(app, Method::POST, path, Some(&c.token), content_type, r#"{"amount": "10"}"#).await;
            assert_refused(
                &r,
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                &format!("{path} as {content_type:?}"),
            );
        }
    }
    // Duplicate keys: the second value never silently wins.
    for (path, body) in [
        ("/api/v1/account/deposits", r#"{"amount": "1", "amount": "1000000"}"#),
        ("/api/v1/account/withdrawals", r#"{"amount": "1", "amount": "1000"}"#),
        ("/api/v1/orders", r#"{"symbol": "AAPL", "side": "sell", "side": "buy", "type": "market", "qty": 1}"#),
        ("/api/v1/orders", r#"{"symbol": "AAPL", "side": "buy", "type": "market", "qty": 1, "qty": 1000}"#),
        ("/api/v1/api-keys", r#"{"name": "a", "scopes": ["read"], "scopes": ["read", "trade"]}"#),
    ] {
        let r = raw_json(app, path, Some(&c.token), body.to_owned()).await;
        assert_refused(&r, StatusCode::BAD_REQUEST, "validation_error", &format!("{path} {body}"));
    }
    assert_eq!(snapshot(app, &c).await, before);
    assert_eq!(app.get("/api/v1/api-keys", &c.token).await.body["data"], json!([]));
}

pub async fn numbers_out_of_range_are_refused(app: &TestApp) {
    let c = app.funded_customer("1000").await;
    let before = snapshot(app, &c).await;
    // As JSON text, so that NaN, -0.0 and huge integers reach the server as written.
    let bad = [
        "NaN",
        r#""NaN""#,
        "Infinity",
        r#""Infinity""#,
        "1e308",
        r#""1e308""#,
        "-1e308",
        "1e-30",
        r#""0.00000000000000000000000000001""#,
        "-1",
        r#""-1""#,
        "0",
        r#""0""#,
        "-0",
        "-0.0",
        r#""-0""#,
        "100000000000000000000000000000000000000000",
        r#""100000000000000000000000000000000000000000""#,
        r#""1,000""#,
        r#""0x10""#,
        r#""""#,
        "true",
        "[1]",
        r#"{"value": 1}"#,
    ];
    for value in bad {
        let bodies = [
            ("/api/v1/account/deposits", format!(r#"{{"amount": {value}}}"#)),
            ("/api/v1/account/withdrawals", format!(r#"{{"amount": {value}}}"#)),
            (
                "/api/v1/orders",
                format!(r#"{{"symbol": "AAPL", "side": "buy", "type": "limit", "qty": {value}, "limit_price": "10"}}"#),
            ),
            (
                "/api/v1/orders",
                format!(r#"{{"symbol": "AAPL", "side": "buy", "type": "market", "notional": {value}}}"#),
            ),
            (
                "/api/v1/orders",
                format!(r#"{{"symbol": "AAPL", "side": "buy", "type": "limit", "qty": 1, "limit_price": {value}}}"#),
            ),
        ];
        for (path, body) in bodies {
            let r = raw_json(app, path, Some(&c.token), body.clone()).await;
            assert_refused(&r, StatusCode::BAD_REQUEST, "validation_error", &format!("{path} {body}"));
        }
    }
    // Too many decimal places for the field (cash and prices 4, quantities 9).
    for (path, body) in [
        ("/api/v1/account/deposits", json!({"amount": "1.00001"})),
        ("/api/v1/account/withdrawals", json!({"amount": 0.00001})),
        (
            "/api/v1/orders",
            json!({"symbol": "AAPL", "side": "buy", "type": "limit", "qty": "0.0000000001", "limit_price": "10"}),
        ),
        (
            "/api/v1/orders",
            json!({"symbol": "AAPL", "side": "buy", "type": "limit", "qty": 1, "limit_price": "10.00001"}),
        ),
        ("/api/v1/orders", json!({"symbol": "AAPL", "side": "buy", "type": "market", "notional": "10.00001"})),
    ] {
        let r = app.post(path, &c.token, body.clone()).await;
        assert_refused(&r, StatusCode::BAD_REQUEST, "validation_error", &format!("{path} {body}"));
    }
    // Large but well-formed values are a business refusal (or a validation one), never a 5xx.
    for (path, body) in [
        ("/api/v1/account/deposits", json!({"amount": "9999999999999999999999999999"})),
        ("/api/v1/account/deposits", json!({"amount": "99999999999999999999.9999"})),
        ("/api/v1/account/withdrawals", json!({"amount": "9999999999999999999999999999"})),
        (
            "/api/v1/orders",
            json!({"symbol": "AAPL", "side": "buy", "type": "limit", "qty": "9999999999999999999", "limit_price": "1"}),
        ),
        (
            "/api/v1/orders",
            json!({"symbol": "AAPL", "side": "buy", "type": "limit", "qty": "1", "limit_price": "9999999999999999999999999999"}),
        ),
        (
            "/api/v1/orders",
            json!({"symbol": "AAPL", "side": "buy", "type": "market", "notional": "9999999999999999999999999999"}),
        ),
        ("/api/v1/orders", json!({"symbol": "AAPL", "side": "sell", "type": "market", "qty": "9999999999999999999"})),
    ] {
        let r = app.post(path, &c.token, body.clone()).await;
        assert_envelope(&r, &format!("{path} {body}"));
        assert!(
            [StatusCode::BAD_REQUEST, StatusCode::UNPROCESSABLE_ENTITY].contains(&r.status),
            "{path} {body}: {} {:?}",
            r.status,
            r.body
        );
    }
    assert_eq!(snapshot(app, &c).await, before);
}

// ---- NUL bytes and header injection ---------------------------------------------------------

pub async fn nul_bytes_in_strings_are_refused(app: &TestApp) {
    let c = app.funded_customer("1000").await;
    let before = snapshot(app, &c).await;
    let order = |symbol: &str, client_order_id: Option<&str>| {
        let mut o = json!({"symbol": symbol, "side": "buy", "type": "limit", "qty": 1, "limit_price": "10"});
        if let Some(id) = client_order_id {
            o["client_order_id"] = json!(id);
        }
        o
    };
    let posts = [
        ("/api/v1/orders", order("AA\u{0}PL", None)),
        ("/api/v1/orders", order("AAPL\u{0}", None)),
        ("/api/v1/orders", order("AAPL", Some("abc\u{0}def"))),
        ("/api/v1/orders", order("AAPL", Some("\u{0}"))),
        ("/api/v1/api-keys", json!({"name": "bot\u{0}", "scopes": ["read"]})),
        ("/api/v1/api-keys", json!({"name": "bot", "scopes": ["read\u{0}"]})),
    ];
    for (path, body) in posts {
        let r = app.post(path, &c.token, body.clone()).await;
        assert_refused(&r, StatusCode::BAD_REQUEST, "validation_error", &format!("{path} {body}"));
    }
    let email = format!("nul\u{0}{}@example.com", uuid::Uuid::now_v7().simple());
    let register = app
        .request(Method::POST, "/api/v1/auth/register", None, Some(json!({"email": email, "password": PASSWORD})))
        .await;
    assert_refused(&register, StatusCode::BAD_REQUEST, "validation_error", "register with a NUL in the e-mail");
    for (email, password) in [(email.as_str(), PASSWORD), (c.email.as_str(), "correct horse\u{0}battery staple")] {
        let login = app
            .request(Method::POST, "/api/v1/auth/login", None, Some(json!({"email": email, "password": password})))
            .await;
        assert_envelope(&login, "login with a NUL");
        assert!([StatusCode::BAD_REQUEST, StatusCode::UNAUTHORIZED].contains(&login.status), "{:?}", login.body);
    }
    let r =
        app.request(Method::POST, "/api/v1/auth/refresh", None, Some(json!({"refresh_token": "abc\u{0}def"}))).await;
    assert_envelope(&r, "refresh with a NUL");
    assert!([StatusCode::BAD_REQUEST, StatusCode::UNAUTHORIZED].contains(&r.status), "{:?}", r.body);
    // In paths and queries (percent-encoded).
    for path in [
        "/api/v1/orders/by-client-id/abc%00def",
        "/api/v1/positions/AA%00PL",
        "/api/v1/market-data/quotes/AA%00PL",
        "/api/v1/orders/00000000-0000-0000-0000-00000000000%00",
    ] {
        let r = app.get(path, &c.token).await;
        assert_envelope(&r, path);
        assert!([StatusCode::BAD_REQUEST, StatusCode::NOT_FOUND].contains(&r.status), "{path}: {:?}", r.body);
    }
    for path in ["/api/v1/orders?status=all&symbol=AA%00PL", "/api/v1/orders?after=%00", "/api/v1/api-keys?after=a%00"]
    {
        let r = app.get(path, &c.token).await;
        assert_refused(&r, StatusCode::BAD_REQUEST, "validation_error", path);
    }
    assert_eq!(snapshot(app, &c).await, before);
    assert_eq!(app.get("/api/v1/api-keys", &c.token).await.body["data"], json!([]));
}

/// One request written to the socket as is (header values HTTP clients refuse to send); the
/// status and the response head.
async fn raw_http(app: &TestApp, request: String) -> (u16, String) {
    let addr = app.base.trim_start_matches("http://").to_owned();
    tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(addr).expect("connect");
        stream.set_read_timeout(Some(std::time::Duration::from_secs(10))).expect("timeout");
        stream.write_all(request.as_bytes()).expect("write");
        let mut out = Vec::new();
        let _ = stream.read_to_end(&mut out);
        let text = String::from_utf8_lossy(&out).into_owned();
        let status = text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        let head = text.split("\r\n\r\n").next().unwrap_or_default().to_owned();
        (status, head)
    })
    .await
    .expect("raw request")
}

pub async fn header_injection_is_neutralised(app: &TestApp) {
    let c = app.funded_customer("1000").await;
    let before = snapshot(app, &c).await;
    let order = r#"{"symbol": "AAPL", "side": "buy", "type": "market", "qty": 1}"#;

    // A bare CR or LF inside a header value: the request is refused before any handler (HTTP/1
    // parser, 400) and nothing of it comes back as a header.
    for (name, value) in [
        ("X-Request-Id", "abc\rSet-Cookie: injected=1"),
        ("Idempotency-Key", "k1\rSet-Cookie: injected=1"),
        ("X-Request-Id", "abc\r Set-Cookie: injected=1"),
    ] {
        let request = format!(
            "POST /api/v1/orders HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n{name}: {value}\r\nConnection: close\r\n\r\n{order}",
            c.token,
            order.len()
        );
        let (status, head) = raw_http(app, request).await;
        assert!((400..500).contains(&status), "{name}: {status} {head}");
        assert!(!head.to_ascii_lowercase().contains("injected"), "{name}: {head}");
    }
    // CRLF ends the header: what follows is another request header, never echoed back.
    let request = format!(
        "GET /api/v1/account HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {}\r\n\
         X-Request-Id: abc\r\nSet-Cookie: injected=1\r\nConnection: close\r\n\r\n",
        c.token
    );
    let (status, head) = raw_http(app, request).await;
    assert_eq!(status, 200, "{head}");
    assert!(!head.to_ascii_lowercase().contains("injected"), "{head}");
    assert!(head.to_ascii_lowercase().contains("x-request-id: abc\r\n"), "{head}");

    // Values HTTP allows but the API does not: a request id is replaced by a fresh one; an
    // idempotency key is refused with 400 and the order is not placed.
    for value in [&b"a b"[..], b"a\tb", b"caf\xc3\xa9", b"%0d%0aSet-Cookie:%20x", &[b'x'; 129][..]] {
        let header = reqwest::header::HeaderValue::from_bytes(value).expect("a legal header value");
        let resp = app
            .client
            .get(format!("{}/api/v1/account", app.base))
            .bearer_auth(&c.token)
            .header("X-Request-Id", header.clone())
            .send()
            .await
            .expect("sent");
        assert_eq!(resp.status(), StatusCode::OK);
        let echoed = resp.headers().get("x-request-id").map(|v| v.as_bytes().to_vec()).unwrap_or_default();
        if value.iter().all(u8::is_ascii_graphic) && value.len() <= 128 {
            assert_eq!(echoed, value.to_vec(), "a sane id is echoed");
        } else {
            assert_ne!(echoed, value.to_vec());
            let text = String::from_utf8(echoed).expect("ascii");
            assert!(uuid::Uuid::parse_str(&text).is_ok(), "a fresh id: {text}");
        }
        if value.iter().all(u8::is_ascii_graphic) {
            continue;
        }
        let resp = app
            .client
            .post(format!("{}/api/v1/orders", app.base))
            .bearer_auth(&c.token)
            .header("Content-Type", "application/json")
            .header("Idempotency-Key", header)
            .body(order)
            .send()
            .await
            .expect("sent");
        let status = resp.status();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        let reply = Reply { status, headers: reqwest::header::HeaderMap::new(), body };
        assert_refused(&reply, StatusCode::BAD_REQUEST, "validation_error", &format!("Idempotency-Key {value:?}"));
    }
    assert_eq!(snapshot(app, &c).await, before);
}
