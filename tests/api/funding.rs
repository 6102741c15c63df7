//! `POST /api/v1/webhooks/funding`: the funding provider's signed deposit notices.

use brokerage_domain::crypto::Signatures as _;
use brokerage_e2e::{Customer, TestApp, WEBHOOK_SECRET};
use brokerage_security::HmacSigner;
use reqwest::StatusCode;
use rust_decimal::Decimal;
use serde_json::json;
use std::str::FromStr;

fn sign(secret: &str, t: i64, body: &str) -> String {
    let mut message = t.to_string().into_bytes();
    message.push(b'.');
    message.extend_from_slice(body.as_bytes());
    format!("t={t},v1={}", HmacSigner.sign(secret.as_bytes(), &message))
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

async fn account_id_and_cash(app: &TestApp, c: &Customer) -> (String, Decimal) {
    let account = app.get("/api/v1/account", &c.token).await.body;
    let cash = Decimal::from_str(account["cash"].as_str().expect("cash")).expect("decimal");
    (account["id"].as_str().expect("id").to_owned(), cash)
}

fn notice(event_id: &str, account_id: &str, amount: &str) -> String {
    json!({"event_id": event_id, "account_id": account_id, "amount": amount, "type": "deposit"}).to_string()
}

/// Spawned with `WEBHOOK_SECRET`.
pub async fn a_signed_deposit_notice_credits_once(app: &TestApp) {
    let c = app.customer().await;
    let (account, cash) = account_id_and_cash(app, &c).await;
    let event_id = format!("evt-{}", uuid::Uuid::now_v7());
    let body = notice(&event_id, &account, "250.5");

    let first = app.funding_webhook(&body, Some(&sign(WEBHOOK_SECRET, now(), &body))).await;
    assert_eq!(first.status, StatusCode::OK, "{:?}", first.body);
    assert_eq!(first.body, json!({"credited": true}));
    assert_eq!(account_id_and_cash(app, &c).await.1, cash + Decimal::from_str("250.5").expect("decimal"));

    // The provider retries (a new signature, the same event): acknowledged, not credited.
    let retry = app.funding_webhook(&body, Some(&sign(WEBHOOK_SECRET, now(), &body))).await;
    assert_eq!((retry.status, retry.body.clone()), (StatusCode::OK, json!({"credited": false})));
    let replay = app.funding_webhook(&body, Some(&sign(WEBHOOK_SECRET, now(), &body))).await;
    assert_eq!(replay.body, json!({"credited": false}));
    assert_eq!(account_id_and_cash(app, &c).await.1, cash + Decimal::from_str("250.5").expect("decimal"));
    let deposits = app.get("/api/v1/account/activities?type=deposit", &c.token).await.body;
    assert_eq!(deposits["data"].as_array().map(Vec::len), Some(1), "{deposits:?}");

    // Another event for the same account is credited.
    let second = notice(&format!("{event_id}-2"), &account, "10");
    let reply = app.funding_webhook(&second, Some(&sign(WEBHOOK_SECRET, now(), &second))).await;
    assert_eq!(reply.body, json!({"credited": true}));

    // A valid notice for an account that does not exist.
    let nobody = notice("evt-nobody", &uuid::Uuid::now_v7().to_string(), "10");
    let reply = app.funding_webhook(&nobody, Some(&sign(WEBHOOK_SECRET, now(), &nobody))).await;
    assert_eq!(
        (reply.status, reply.error()),
        (StatusCode::UNPROCESSABLE_ENTITY, "unknown_account"),
        "{:?}",
        reply.body
    );
    // Signed but invalid.
    let invalid = notice("evt-bad", &account, "-5");
    let reply = app.funding_webhook(&invalid, Some(&sign(WEBHOOK_SECRET, now(), &invalid))).await;
    assert_eq!((reply.status, reply.error()), (StatusCode::BAD_REQUEST, "validation_error"));
    let violations = app.audit().await;
    assert!(violations.is_empty(), "{violations:#?}");
}

/// Spawned with `WEBHOOK_SECRET`.
pub async fn bad_signatures_are_refused_and_credit_nothing(app: &TestApp) {
    let c = app.customer().await;
    let (account, cash) = account_id_and_cash(app, &c).await;
    let body = notice(&format!("evt-{}", uuid::Uuid::now_v7()), &account, "1000");
    let tampered = body.replace("1000", "9000");
    let cases = [
        ("no signature", body.clone(), None),
        ("garbage", body.clone(), Some("nonsense".to_owned())),
        ("tampered body", tampered, Some(sign(WEBHOOK_SECRET, now(), &body))),
        ("wrong secret", body.clone(), Some(sign("not-the-secret", now(), &body))),
        ("stale", body.clone(), Some(sign(WEBHOOK_SECRET, now() - 301, &body))),
        // Past the 300 s tolerance by more than a clock tick: the server reads its clock after
        // this one, possibly a second later (with +301 that flaked under load).
        ("from the future", body.clone(), Some(sign(WEBHOOK_SECRET, now() + 310, &body))),
        (
            "timestamp swapped",
            body.clone(),
            Some(sign(WEBHOOK_SECRET, now() - 400, &body).replacen(
                &format!("t={}", now() - 400),
                &format!("t={}", now()),
                1,
            )),
        ),
    ];
    for (what, body, signature) in cases {
        let reply = app.funding_webhook(&body, signature.as_deref()).await;
        assert_eq!(
            (reply.status, reply.error()),
            (StatusCode::UNAUTHORIZED, "unauthenticated"),
            "{what}: {:?}",
            reply.body
        );
        assert!(reply.body["request_id"].is_string(), "{what}: the envelope");
    }
    assert_eq!(account_id_and_cash(app, &c).await.1, cash, "nothing credited");
    let deposits = app.get("/api/v1/account/activities?type=deposit", &c.token).await.body;
    assert_eq!(deposits["data"], json!([]));
    // A bearer token is no substitute for the signature.
    let reply = app.post("/api/v1/webhooks/funding", &c.token, serde_json::from_str(&body).expect("json")).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
}

/// Spawned without a secret.
pub async fn without_a_secret_the_funding_webhook_is_unavailable(app: &TestApp) {
    let body = notice("evt-1", &uuid::Uuid::now_v7().to_string(), "1");
    let reply = app.funding_webhook(&body, Some(&sign("anything", now(), &body))).await;
    assert_eq!((reply.status, reply.error()), (StatusCode::SERVICE_UNAVAILABLE, "unavailable"), "{:?}", reply.body);
}
