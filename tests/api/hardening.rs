//! HTTP hardening and the API documentation against the real application over HTTP: security
//! headers on answers and errors, the served OpenAPI document and Swagger UI, CORS and HSTS as
//! configured (`crates/http/src/security_headers.rs`).

use brokerage_e2e::{Backend, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::Value;

fn header<'a>(headers: &'a reqwest::header::HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn assert_hardened(headers: &reqwest::header::HeaderMap, what: &str) {
    assert_eq!(header(headers, "x-content-type-options"), Some("nosniff"), "{what}");
    assert_eq!(header(headers, "x-frame-options"), Some("DENY"), "{what}");
    assert!(header(headers, "content-security-policy").is_some_and(|c| c.contains("frame-ancestors 'none'")), "{what}");
    assert!(header(headers, "x-request-id").is_some(), "{what}");
}

pub async fn security_headers_on_every_answer(app: &TestApp) {
    let c = app.customer().await;
    let account = app.get("/api/v1/account", &c.token).await;
    assert_eq!(account.status, StatusCode::OK);
    assert_hardened(&account.headers, "account");
    assert_eq!(header(&account.headers, "cache-control"), Some("no-store"));
    assert_eq!(header(&account.headers, "strict-transport-security"), None, "HSTS is off unless configured");

    let denied = app.request(Method::GET, "/api/v1/account", None, None).await;
    assert_eq!((denied.status, denied.error()), (StatusCode::UNAUTHORIZED, "unauthenticated"));
    assert_hardened(&denied.headers, "401");
    assert_eq!(header(&denied.headers, "cache-control"), Some("no-store"));

    let quote = app.get("/api/v1/market-data/quotes/AAPL", &c.token).await;
    assert_eq!(quote.status, StatusCode::OK);
    assert_hardened(&quote.headers, "quote");
    assert!(header(&quote.headers, "cache-control").is_some_and(|v| v.starts_with("public, max-age=")));

    let unknown = app.request(Method::GET, "/no/such/route", None, None).await;
    assert_hardened(&unknown.headers, "404");
}

pub async fn the_api_documents_itself(app: &TestApp) {
    let doc = app.request(Method::GET, "/api-docs/openapi.json", None, None).await;
    assert_eq!(doc.status, StatusCode::OK);
    assert_eq!(doc.body["openapi"], "3.1.0");
    assert!(doc.body["paths"]["/api/v1/orders"]["post"].is_object());
    assert_eq!(doc.body["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
    let checked_in: Value =
        serde_json::from_str(include_str!("../../docs/openapi.json")).expect("docs/openapi.json is JSON");
    assert_eq!(doc.body, checked_in, "the served document is the checked-in docs/openapi.json");

    // `/api-docs` redirects to the UI, served from the binary with its own policy.
    let ui = app.client.get(format!("{}/api-docs", app.base)).send().await.expect("sent");
    assert_eq!(ui.status(), StatusCode::OK);
    assert_eq!(ui.url().path(), "/api-docs/");
    let csp = header(ui.headers(), "content-security-policy").unwrap_or_default().to_owned();
    assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"), "{csp}");
    let page = ui.text().await.expect("html");
    assert!(page.contains("swagger-ui-bundle.js"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_and_hsts_follow_the_settings() {
    let app = TestApp::spawn_with(
        Backend::Memory,
        vec![
            ("BROKERAGE__HTTP__CORS_ALLOWED_ORIGINS".to_owned(), "https://app.example.com".to_owned()),
            ("BROKERAGE__HTTP__HSTS".to_owned(), "true".to_owned()),
        ],
    )
    .await;
    let preflight = app
        .client
        .request(Method::OPTIONS, format!("{}/api/v1/orders", app.base))
        .header("Origin", "https://app.example.com")
        .header("Access-Control-Request-Method", "POST")
        .header("Access-Control-Request-Headers", "authorization, content-type, idempotency-key")
        .send()
        .await
        .expect("sent");
    assert!(preflight.status().is_success(), "{}", preflight.status());
    assert_eq!(header(preflight.headers(), "access-control-allow-origin"), Some("https://app.example.com"));

    let other = app
        .client
        .get(format!("{}/health/live", app.base))
        .header("Origin", "https://evil.example")
        .send()
        .await
        .expect("sent");
    assert_eq!(other.status(), StatusCode::OK);
    assert_eq!(header(other.headers(), "access-control-allow-origin"), None);
    assert_eq!(header(other.headers(), "strict-transport-security"), Some("max-age=31536000; includeSubDomains"));
    app.stop().await;
}
