//! Identity and access scenarios: sessions, logout, password change, administration.

use brokerage_domain::users::Role;
use brokerage_e2e::{PASSWORD, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::json;

pub async fn refresh_rotates_and_reuse_revokes_the_whole_session(app: &TestApp) {
    let c = app.customer().await;
    let first =
        app.request(Method::POST, "/api/v1/auth/refresh", None, Some(json!({"refresh_token": c.refresh_token}))).await;
    assert_eq!(first.status, StatusCode::OK, "{:?}", first.body);
    let (access2, refresh2) =
        (first.body["access_token"].as_str().unwrap(), first.body["refresh_token"].as_str().unwrap());
    assert_ne!(refresh2, c.refresh_token);
    assert_eq!(app.get("/api/v1/me", access2).await.status, StatusCode::OK);

    // The spent token comes back (stolen, or a confused client): the whole family dies.
    let replay =
        app.request(Method::POST, "/api/v1/auth/refresh", None, Some(json!({"refresh_token": c.refresh_token}))).await;
    assert_eq!((replay.status, replay.error()), (StatusCode::UNAUTHORIZED, "unauthenticated"));
    let newest =
        app.request(Method::POST, "/api/v1/auth/refresh", None, Some(json!({"refresh_token": refresh2}))).await;
    assert_eq!(newest.status, StatusCode::UNAUTHORIZED, "the newest refresh token died too");
    for token in [c.token.as_str(), access2] {
        assert_eq!(
            app.get("/api/v1/me", token).await.status,
            StatusCode::UNAUTHORIZED,
            "access tokens of the session die"
        );
    }

    let garbage = app.request(Method::POST, "/api/v1/auth/refresh", None, Some(json!({"refresh_token": "nope"}))).await;
    assert_eq!((garbage.status, garbage.error()), (StatusCode::UNAUTHORIZED, "unauthenticated"));
    // A refresh token is not an access token.
    let other = app.customer().await;
    assert_eq!(app.get("/api/v1/me", &other.refresh_token).await.status, StatusCode::UNAUTHORIZED);
}

pub async fn logout_ends_the_session_at_once(app: &TestApp) {
    let c = app.customer().await;
    let second_device = app.login(&c.email, PASSWORD).await;
    let out = app.post("/api/v1/auth/logout", &c.token, json!({})).await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    let me = app.get("/api/v1/me", &c.token).await;
    assert_eq!(
        (me.status, me.error()),
        (StatusCode::UNAUTHORIZED, "unauthenticated"),
        "refused immediately, not at expiry"
    );
    let refresh =
        app.request(Method::POST, "/api/v1/auth/refresh", None, Some(json!({"refresh_token": c.refresh_token}))).await;
    assert_eq!(refresh.status, StatusCode::UNAUTHORIZED);
    assert_eq!(app.get("/api/v1/me", &second_device.token).await.status, StatusCode::OK, "other sessions live on");
}

pub async fn changing_the_password_ends_every_session(app: &TestApp) {
    let c = app.customer().await;
    let other_device = app.login(&c.email, PASSWORD).await;
    let wrong = app
        .post(
            "/api/v1/auth/password",
            &c.token,
            json!({"current_password": "not my password", "new_password": "a brand new passphrase"}),
        )
        .await;
    assert_eq!((wrong.status, wrong.error()), (StatusCode::UNAUTHORIZED, "invalid_credentials"));
    let weak = app
        .post("/api/v1/auth/password", &c.token, json!({"current_password": PASSWORD, "new_password": "short"}))
        .await;
    assert_eq!((weak.status, weak.error()), (StatusCode::BAD_REQUEST, "validation_error"));
    let ok = app
        .post(
            "/api/v1/auth/password",
            &c.token,
            json!({"current_password": PASSWORD, "new_password": "a brand new passphrase"}),
        )
        .await;
    assert_eq!(ok.status, StatusCode::NO_CONTENT, "{:?}", ok.body);
    for token in [&c.token, &other_device.token] {
        assert_eq!(app.get("/api/v1/me", token).await.status, StatusCode::UNAUTHORIZED);
    }
    let old = app
        .request(Method::POST, "/api/v1/auth/login", None, Some(json!({"email": c.email, "password": PASSWORD})))
        .await;
    assert_eq!(old.status, StatusCode::UNAUTHORIZED);
    app.login(&c.email, "a brand new passphrase").await;
}

pub async fn admins_lock_users_and_support_only_reads(app: &TestApp) {
    let admin = app.user_with_role(Role::Admin).await;
    let support = app.user_with_role(Role::Support).await;
    let victim = app.funded_customer("100").await;
    let victim_id = app.get("/api/v1/me", &victim.token).await.body["id"].as_str().unwrap().to_owned();

    let listed = app.get("/api/v1/admin/users?limit=500", &support.token).await;
    assert_eq!(listed.status, StatusCode::OK);
    assert!(listed.body["data"].as_array().unwrap().iter().any(|u| u["id"] == victim_id.as_str()));
    assert!(listed.body["data"][0].get("password_hash").is_none());
    assert_eq!(app.get("/api/v1/admin/orders", &support.token).await.status, StatusCode::OK);

    let lock = json!({"status": "locked"});
    let path = format!("/api/v1/admin/users/{victim_id}");
    for (token, status, code) in
        [(&support.token, StatusCode::FORBIDDEN, "forbidden"), (&victim.token, StatusCode::FORBIDDEN, "forbidden")]
    {
        let r = app.request(Method::PATCH, &path, Some(token), Some(lock.clone())).await;
        assert_eq!((r.status, r.error()), (status, code));
    }
    for customer_route in ["/api/v1/admin/users", "/api/v1/admin/orders"] {
        assert_eq!(app.get(customer_route, &victim.token).await.status, StatusCode::FORBIDDEN);
    }
    let smuggle = app
        .request(Method::PATCH, &path, Some(&admin.token), Some(json!({"status": "locked", "cash": "1000000"})))
        .await;
    assert_eq!(smuggle.status, StatusCode::BAD_REQUEST, "only role and status can change");
    let bad_role = app.request(Method::PATCH, &path, Some(&admin.token), Some(json!({"role": "god"}))).await;
    assert_eq!(bad_role.status, StatusCode::BAD_REQUEST);

    let locked = app.request(Method::PATCH, &path, Some(&admin.token), Some(lock)).await;
    assert_eq!(locked.status, StatusCode::OK, "{:?}", locked.body);
    assert_eq!(locked.body["status"], "locked");
    assert_eq!(app.get("/api/v1/account", &victim.token).await.status, StatusCode::UNAUTHORIZED, "sessions ended");
    let login = app
        .request(Method::POST, "/api/v1/auth/login", None, Some(json!({"email": victim.email, "password": PASSWORD})))
        .await;
    assert_eq!((login.status, login.error()), (StatusCode::UNAUTHORIZED, "invalid_credentials"));
    let missing = app
        .request(
            Method::PATCH,
            &format!("/api/v1/admin/users/{}", uuid::Uuid::now_v7()),
            Some(&admin.token),
            Some(json!({"status": "active"})),
        )
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);

    let unlocked = app.request(Method::PATCH, &path, Some(&admin.token), Some(json!({"status": "active"}))).await;
    assert_eq!(unlocked.body["status"], "active");
    app.login(&victim.email, PASSWORD).await;
    assert_eq!(
        app.post(
            "/api/v1/orders",
            &support.token,
            json!({"symbol": "AAPL", "side": "buy", "type": "market", "qty": 1})
        )
        .await
        .status,
        StatusCode::FORBIDDEN,
        "support never trades"
    );
}

/// The code an authenticator app shows for `secret` (base32) at `offset_steps` × 30 s from now.
fn totp_code(secret: &str, offset_steps: i64) -> String {
    let at = chrono::Utc::now() + chrono::Duration::seconds(30 * offset_steps);
    brokerage_security::Totp::code_for(secret, at).expect("a base32 secret")
}

/// Codes are computed from the wall clock around the server's; start well inside a 30 s step
/// so the whole scenario sees the same current step.
async fn start_of_a_fresh_step() {
    let into_step = chrono::Utc::now().timestamp().rem_euclid(30);
    if into_step > 20 {
        tokio::time::sleep(std::time::Duration::from_secs(u64::try_from(31 - into_step).unwrap())).await;
    }
}

pub async fn two_factor_login_needs_a_fresh_code_once(app: &TestApp) {
    start_of_a_fresh_step().await;
    let c = app.customer().await;
    let setup = app.post("/api/v1/auth/2fa/setup", &c.token, json!({})).await;
    assert_eq!(setup.status, StatusCode::OK, "{:?}", setup.body);
    let secret = setup.body["secret"].as_str().unwrap().to_owned();
    assert!(setup.body["otpauth_uri"].as_str().unwrap().starts_with("otpauth://totp/"));

    let wrong = app.post("/api/v1/auth/2fa/enable", &c.token, json!({"code": totp_code(&secret, 10)})).await;
    assert_eq!((wrong.status, wrong.error()), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_totp_code"));
    // The previous step's code is still accepted (one step of skew).
    let enable = app.post("/api/v1/auth/2fa/enable", &c.token, json!({"code": totp_code(&secret, -1)})).await;
    assert_eq!(enable.status, StatusCode::NO_CONTENT, "{:?}", enable.body);
    assert_eq!(app.get("/api/v1/me", &c.token).await.body["totp_enabled"], true);
    let again = app.post("/api/v1/auth/2fa/setup", &c.token, json!({})).await;
    assert_eq!(again.status, StatusCode::CONFLICT, "a second secret cannot replace an enabled one");

    let login = |code: Option<String>| {
        let mut body = json!({"email": c.email, "password": PASSWORD});
        if let Some(code) = code {
            body["totp_code"] = json!(code);
        }
        app.request(Method::POST, "/api/v1/auth/login", None, Some(body))
    };
    let missing = login(None).await;
    assert_eq!((missing.status, missing.error()), (StatusCode::UNAUTHORIZED, "totp_required"));
    let bad = login(Some("12345x".into())).await;
    assert_eq!((bad.status, bad.error()), (StatusCode::UNAUTHORIZED, "invalid_credentials"));
    let used = login(Some(totp_code(&secret, -1))).await;
    assert_eq!(used.status, StatusCode::UNAUTHORIZED, "the code that enabled 2FA was spent");
    let next = totp_code(&secret, 0);
    let ok = login(Some(next.clone())).await;
    assert_eq!(ok.status, StatusCode::OK, "{:?}", ok.body);
    let replay = login(Some(next)).await;
    assert_eq!((replay.status, replay.error()), (StatusCode::UNAUTHORIZED, "invalid_credentials"), "a code works once");
    let wrong_password = app
        .request(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"email": c.email, "password": "not the password", "totp_code": totp_code(&secret, 1)})),
        )
        .await;
    assert_eq!(wrong_password.error(), "invalid_credentials");

    if let Some(db) = &app.db {
        let stored = db.texts("SELECT totp_secret AS value FROM users WHERE totp_enabled").await.unwrap();
        let sealed = stored[0].clone().unwrap();
        assert!(
            !sealed.contains(&secret) && !sealed.to_lowercase().contains(&secret.to_lowercase()),
            "sealed at rest: {sealed}"
        );
        assert!(sealed.starts_with("e1:"), "names its key: {sealed}");
    }

    let token = ok.body["access_token"].as_str().unwrap().to_owned();
    let disable_wrong = app.post("/api/v1/auth/2fa/disable", &token, json!({"code": "000000"})).await;
    assert_eq!(disable_wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    let disable = app.post("/api/v1/auth/2fa/disable", &token, json!({"code": totp_code(&secret, 1)})).await;
    assert_eq!(disable.status, StatusCode::NO_CONTENT, "{:?}", disable.body);
    app.login(&c.email, PASSWORD).await;
}

/// Sends a request signed with an API key, as a program would.
async fn signed(
    app: &TestApp,
    method: Method,
    path: &str,
    key_id: &str,
    secret: &str,
    body: Option<serde_json::Value>,
    skew: i64,
) -> brokerage_e2e::Reply {
    use brokerage_domain::crypto::Signatures as _;
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let ts = (chrono::Utc::now().timestamp() + skew).to_string();
    let message = format!("{ts}\n{}\n{path}\n{body}", method.as_str());
    let signature = brokerage_security::HmacSigner.sign(secret.as_bytes(), message.as_bytes());
    app.signed_request(method, path, key_id, &ts, &signature, body).await
}

pub async fn api_keys_sign_requests_within_their_scopes(app: &TestApp) {
    let owner = app.funded_customer("5000").await;
    let created = app.post("/api/v1/api-keys", &owner.token, json!({"name": "bot", "scopes": ["read", "trade"]})).await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    let (id, key_id, secret) = (
        created.body["id"].as_str().unwrap().to_owned(),
        created.body["key_id"].as_str().unwrap().to_owned(),
        created.body["secret"].as_str().unwrap().to_owned(),
    );
    let listed = app.get("/api/v1/api-keys", &owner.token).await;
    assert_eq!(listed.body["data"][0]["key_id"], key_id.as_str());
    assert!(listed.body["data"][0].get("secret").is_none(), "the secret is shown once");
    let bad_scope = app.post("/api/v1/api-keys", &owner.token, json!({"name": "x", "scopes": ["admin"]})).await;
    assert_eq!(bad_scope.status, StatusCode::BAD_REQUEST);

    let account = signed(app, Method::GET, "/api/v1/account", &key_id, &secret, None, 0).await;
    assert_eq!(account.status, StatusCode::OK, "{:?}", account.body);
    let order = json!({"symbol": "AAPL", "side": "buy", "type": "limit", "qty": 1, "limit_price": 10});
    let placed = signed(app, Method::POST, "/api/v1/orders", &key_id, &secret, Some(order.clone()), 0).await;
    assert_eq!(placed.status, StatusCode::CREATED, "{:?}", placed.body);
    let funds =
        signed(app, Method::POST, "/api/v1/account/deposits", &key_id, &secret, Some(json!({"amount": 1})), 0).await;
    assert_eq!((funds.status, funds.error()), (StatusCode::FORBIDDEN, "forbidden"), "no funds scope");
    let mint = signed(
        app,
        Method::POST,
        "/api/v1/api-keys",
        &key_id,
        &secret,
        Some(json!({"name": "child", "scopes": ["read"]})),
        0,
    )
    .await;
    assert_eq!(mint.status, StatusCode::FORBIDDEN, "a key cannot mint keys");

    // Tampered body, wrong secret, skewed clock, replay: all 401, and nothing is placed.
    let orders_before = app.get("/api/v1/orders?status=all", &owner.token).await.body["data"].as_array().unwrap().len();
    // A second earlier than the order placed above, so this is a new signature, not a replay.
    let ts = (chrono::Utc::now().timestamp() - 2).to_string();
    let good_body = order.to_string();
    let message = format!("{ts}\nPOST\n/api/v1/orders\n{good_body}");
    use brokerage_domain::crypto::Signatures as _;
    let signature = brokerage_security::HmacSigner.sign(secret.as_bytes(), message.as_bytes());
    let tampered = app
        .signed_request(
            Method::POST,
            "/api/v1/orders",
            &key_id,
            &ts,
            &signature,
            good_body.replace("\"qty\":1", "\"qty\":100"),
        )
        .await;
    assert_eq!((tampered.status, tampered.error()), (StatusCode::UNAUTHORIZED, "unauthenticated"));
    let forged = signed(app, Method::POST, "/api/v1/orders", &key_id, "not-the-secret", Some(order.clone()), 0).await;
    assert_eq!(forged.status, StatusCode::UNAUTHORIZED);
    let skewed = signed(app, Method::POST, "/api/v1/orders", &key_id, &secret, Some(order.clone()), -301).await;
    assert_eq!(skewed.status, StatusCode::UNAUTHORIZED);
    let first = app.signed_request(Method::POST, "/api/v1/orders", &key_id, &ts, &signature, good_body.clone()).await;
    assert_eq!(first.status, StatusCode::CREATED, "the tampered attempt consumed nothing");
    let replayed = app.signed_request(Method::POST, "/api/v1/orders", &key_id, &ts, &signature, good_body).await;
    assert_eq!((replayed.status, replayed.error()), (StatusCode::UNAUTHORIZED, "unauthenticated"));
    let orders_after = app.get("/api/v1/orders?status=all", &owner.token).await.body["data"].as_array().unwrap().len();
    assert_eq!(orders_after, orders_before + 1);

    if let Some(db) = &app.db {
        let stored = db.texts("SELECT sealed_secret AS value FROM api_keys").await.unwrap();
        assert!(stored.iter().flatten().all(|s| !s.contains(&secret)), "sealed at rest");
    }

    let stranger = app.customer().await;
    let theirs = app.delete(&format!("/api/v1/api-keys/{id}"), &stranger.token).await;
    assert_eq!(theirs.status, StatusCode::NOT_FOUND, "another user's key is not found");
    assert_eq!(app.delete(&format!("/api/v1/api-keys/{id}"), &owner.token).await.status, StatusCode::NO_CONTENT);
    let revoked = signed(app, Method::GET, "/api/v1/account", &key_id, &secret, None, 0).await;
    assert_eq!(revoked.status, StatusCode::UNAUTHORIZED);
    assert_eq!(app.get("/api/v1/api-keys", &owner.token).await.body["data"].as_array().map(Vec::len), Some(0));
}

pub async fn repeated_failed_logins_are_throttled_per_account(app: &TestApp) {
    let c = app.customer().await;
    let attempt = |password: &'static str| {
        app.request(Method::POST, "/api/v1/auth/login", None, Some(json!({"email": c.email, "password": password})))
    };
    // Registration logged in once; eight failures make nine attempts.
    for _ in 0..8 {
        assert_eq!(attempt("wrong password!!").await.status, StatusCode::UNAUTHORIZED);
    }
    let throttled = attempt(PASSWORD).await;
    assert_eq!(throttled.status, StatusCode::OK, "the 10th attempt is still allowed");
    let throttled = attempt(PASSWORD).await;
    assert_eq!((throttled.status, throttled.error()), (StatusCode::TOO_MANY_REQUESTS, "rate_limited"));
    let retry: u64 = throttled.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=900).contains(&retry), "{retry}");
    // Another account is not affected.
    let other = app.customer().await;
    assert_eq!(app.get("/api/v1/me", &other.token).await.status, StatusCode::OK);
}

pub async fn admins_halt_and_resume_symbols(app: &TestApp) {
    let admin = app.user_with_role(Role::Admin).await;
    let support = app.user_with_role(Role::Support).await;
    let c = app.funded_customer("10000").await;
    let buy = json!({"symbol": "KO", "side": "buy", "type": "market", "qty": 1});
    assert_eq!(
        app.post("/api/v1/admin/symbols/KO/halt", &support.token, json!({})).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(app.post("/api/v1/admin/symbols/KO/halt", &c.token, json!({})).await.status, StatusCode::FORBIDDEN);
    assert_eq!(
        app.post("/api/v1/admin/symbols/ZZZZ/halt", &admin.token, json!({})).await.status,
        StatusCode::NOT_FOUND
    );

    assert_eq!(app.post("/api/v1/admin/symbols/KO/halt", &admin.token, json!({})).await.status, StatusCode::NO_CONTENT);
    let refused = app.post("/api/v1/orders", &c.token, buy.clone()).await;
    assert_eq!((refused.status, refused.error()), (StatusCode::UNPROCESSABLE_ENTITY, "symbol_halted"));
    assert_eq!(app.get("/api/v1/market-data/quotes/KO", &c.token).await.status, StatusCode::OK, "still quoted");
    assert_eq!(
        app.post("/api/v1/orders", &c.token, json!({"symbol": "PG", "side": "buy", "type": "market", "qty": 1}))
            .await
            .status,
        StatusCode::CREATED,
        "other symbols trade"
    );

    assert_eq!(
        app.post("/api/v1/admin/symbols/KO/resume", &admin.token, json!({})).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(app.post("/api/v1/orders", &c.token, buy).await.status, StatusCode::CREATED);
}
