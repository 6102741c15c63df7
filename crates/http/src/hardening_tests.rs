//! HTTP hardening as a client sees it: security headers on every answer (errors included), the
//! Swagger UI's own content security policy, HSTS only when configured, CORS off unless
//! configured, the handler timeout, compression, and the 413/415 limits.

use crate::api_tests::{GOOD_TOKEN, Mocks};
use crate::security_headers::{API_CSP, DOCS_CSP, HSTS, validate_origins};
use crate::{HttpConfig, app};
use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::{StatusCode, header};
use actix_web::test::{self, TestRequest};
use actix_web::{HttpResponse, web};
use serde_json::Value;
use std::time::{Duration, Instant};

fn config() -> HttpConfig {
    HttpConfig { workers: 1, max_body_bytes: 1024, shutdown_timeout_secs: 1, ..HttpConfig::default() }
}

async fn send_with(config: HttpConfig, req: TestRequest) -> ServiceResponse<impl MessageBody> {
    let svc = test::init_service(app(Mocks::new().state(), &config)).await;
    svc.call(req.to_request()).await.expect("the app answers")
}

async fn send(req: TestRequest) -> ServiceResponse<impl MessageBody> {
    send_with(config(), req).await
}

fn header_of<B>(res: &ServiceResponse<B>, name: header::HeaderName) -> Option<String> {
    res.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

fn assert_security_headers<B>(res: &ServiceResponse<B>, what: &str) {
    assert_eq!(header_of(res, header::X_CONTENT_TYPE_OPTIONS).as_deref(), Some("nosniff"), "{what}");
    assert_eq!(header_of(res, header::X_FRAME_OPTIONS).as_deref(), Some("DENY"), "{what}");
    assert_eq!(header_of(res, header::REFERRER_POLICY).as_deref(), Some("no-referrer"), "{what}");
    let csp = header_of(res, header::CONTENT_SECURITY_POLICY).unwrap_or_default();
    assert!(csp.contains("frame-ancestors 'none'"), "{what}: {csp}");
}

#[actix_web::test]
async fn every_answer_carries_the_security_headers_and_no_store() {
    let cases = [
        ("health", TestRequest::get().uri("/health/live"), StatusCode::OK),
        ("unknown path", TestRequest::get().uri("/nope"), StatusCode::NOT_FOUND),
        ("no token", TestRequest::get().uri("/api/v1/me"), StatusCode::UNAUTHORIZED),
        ("wrong method", TestRequest::put().uri("/api/v1/me"), StatusCode::METHOD_NOT_ALLOWED),
        (
            "unknown order",
            TestRequest::get()
                .uri("/api/v1/orders/not-a-uuid")
                .insert_header((header::AUTHORIZATION, format!("Bearer {GOOD_TOKEN}"))),
            StatusCode::NOT_FOUND,
        ),
    ];
    for (what, req, status) in cases {
        let res = send(req).await;
        assert_eq!(res.status(), status, "{what}");
        assert_security_headers(&res, what);
        assert_eq!(header_of(&res, header::CONTENT_SECURITY_POLICY).as_deref(), Some(API_CSP), "{what}");
        assert_eq!(header_of(&res, header::CACHE_CONTROL).as_deref(), Some("no-store"), "{what}");
        assert_eq!(header_of(&res, header::STRICT_TRANSPORT_SECURITY), None, "{what}: HSTS is off by default");
    }
}

#[actix_web::test]
async fn quotes_keep_their_public_cache_control() {
    let req = TestRequest::get()
        .uri("/api/v1/market-data/quotes/AAPL")
        .insert_header((header::AUTHORIZATION, format!("Bearer {GOOD_TOKEN}")));
    let res = send(req).await;
    assert_eq!(res.status(), StatusCode::OK);
    let cache = header_of(&res, header::CACHE_CONTROL).unwrap_or_default();
    assert!(cache.starts_with("public, max-age="), "{cache}");
    assert_security_headers(&res, "quote");
}

#[actix_web::test]
async fn hsts_is_sent_only_when_configured() {
    let res = send_with(HttpConfig { hsts: true, ..config() }, TestRequest::get().uri("/health/live")).await;
    assert_eq!(header_of(&res, header::STRICT_TRANSPORT_SECURITY).as_deref(), Some(HSTS));
    let res = send_with(HttpConfig { hsts: true, ..config() }, TestRequest::get().uri("/nope")).await;
    assert_eq!(header_of(&res, header::STRICT_TRANSPORT_SECURITY).as_deref(), Some(HSTS), "errors too");
}

#[actix_web::test]
async fn the_swagger_ui_alone_gets_a_policy_that_runs_its_bundled_scripts() {
    for page in ["/api-docs/", "/api-docs/index.html", "/api-docs/swagger-ui-bundle.js"] {
        let res = send(TestRequest::get().uri(page)).await;
        assert_eq!(res.status(), StatusCode::OK, "{page}");
        assert_eq!(header_of(&res, header::CONTENT_SECURITY_POLICY).as_deref(), Some(DOCS_CSP), "{page}");
        assert_security_headers(&res, page);
    }
    // Only this server's own files: no inline scripts, no other origin.
    assert!(DOCS_CSP.contains("script-src 'self';") && !DOCS_CSP.contains("unsafe-eval"));
    let res = send(TestRequest::get().uri("/api-docs/openapi.json")).await;
    assert_eq!(header_of(&res, header::CONTENT_SECURITY_POLICY).as_deref(), Some(API_CSP));
}

// ---- CORS ------------------------------------------------------------------------------------

fn preflight(origin: &str) -> TestRequest {
    TestRequest::default()
        .method(actix_web::http::Method::OPTIONS)
        .uri("/api/v1/orders")
        .insert_header((header::ORIGIN, origin))
        .insert_header((header::ACCESS_CONTROL_REQUEST_METHOD, "POST"))
        .insert_header((header::ACCESS_CONTROL_REQUEST_HEADERS, "authorization, content-type"))
}

#[actix_web::test]
async fn cors_allows_no_origin_by_default() {
    let res = send(preflight("https://app.example.com")).await;
    assert_eq!(header_of(&res, header::ACCESS_CONTROL_ALLOW_ORIGIN), None);
    let res =
        send(TestRequest::get().uri("/health/live").insert_header((header::ORIGIN, "https://evil.example"))).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(header_of(&res, header::ACCESS_CONTROL_ALLOW_ORIGIN), None);
}

#[actix_web::test]
async fn cors_allows_the_configured_origins_only() {
    let config = HttpConfig { cors_allowed_origins: vec!["https://app.example.com".into()], ..config() };
    let res = send_with(config.clone(), preflight("https://app.example.com")).await;
    assert!(res.status().is_success(), "{}", res.status());
    assert_eq!(header_of(&res, header::ACCESS_CONTROL_ALLOW_ORIGIN).as_deref(), Some("https://app.example.com"));
    let methods = header_of(&res, header::ACCESS_CONTROL_ALLOW_METHODS).unwrap_or_default();
    assert!(methods.contains("POST"), "{methods}");

    let res = send_with(
        config.clone(),
        TestRequest::get().uri("/api/v1/me").insert_header((header::ORIGIN, "https://app.example.com")),
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(header_of(&res, header::ACCESS_CONTROL_ALLOW_ORIGIN).as_deref(), Some("https://app.example.com"));
    let exposed = header_of(&res, header::ACCESS_CONTROL_EXPOSE_HEADERS).unwrap_or_default();
    assert!(exposed.contains("x-request-id"), "{exposed}");

    // Another origin is answered (non-browser clients keep working) but browsers may not read it.
    let res = send_with(
        config,
        TestRequest::get().uri("/health/live").insert_header((header::ORIGIN, "https://evil.example")),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(header_of(&res, header::ACCESS_CONTROL_ALLOW_ORIGIN), None);
}

#[test]
fn cors_origins_must_be_plain_origins() {
    assert_eq!(validate_origins(&["https://app.example.com".into(), "http://localhost:3000".into()]), Ok(()));
    for bad in ["*", "app.example.com", "https://app.example.com/", "https://app.example.com/path", "ftp://x.example"] {
        assert!(validate_origins(&[bad.to_owned()]).is_err(), "{bad}");
    }
}

// ---- timeout, compression, limits ----------------------------------------------------------------

#[actix_web::test]
async fn a_handler_past_the_request_timeout_gets_503_with_the_envelope() {
    let config = HttpConfig { request_timeout_secs: 1, ..config() };
    let svc =
        test::init_service(app(Mocks::new().state(), &config).service(web::resource("/__test/slow").to(|| async {
            tokio::time::sleep(Duration::from_secs(30)).await;
            HttpResponse::Ok().finish()
        })))
        .await;
    let started = Instant::now();
    // The handler's request is gone with it: the answer leaves as an error, which actix's
    // dispatcher renders like this.
    let err = match svc.call(TestRequest::get().uri("/__test/slow").to_request()).await {
        Ok(res) => panic!("expected the timeout to answer, got {}", res.status()),
        Err(err) => err,
    };
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    let res = err.error_response();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    let header = |name| res.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    assert_eq!(header(header::RETRY_AFTER).as_deref(), Some("1"));
    assert_eq!(header(header::X_CONTENT_TYPE_OPTIONS).as_deref(), Some("nosniff"));
    assert_eq!(header(header::CONTENT_SECURITY_POLICY).as_deref(), Some(API_CSP));
    assert_eq!(header(header::CACHE_CONTROL).as_deref(), Some("no-store"));
    let id = header(header::HeaderName::from_static("x-request-id")).expect("request id");
    let body = actix_web::body::to_bytes(res.into_body()).await.expect("body");
    let body: Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(body["error"], "unavailable");
    assert_eq!(body["request_id"], id.as_str());

    // A quick answer is untouched.
    let res = svc.call(TestRequest::get().uri("/health/live").to_request()).await.expect("answers");
    assert_eq!(res.status(), StatusCode::OK);
}

#[actix_web::test]
async fn large_answers_are_compressed_when_the_client_accepts_gzip() {
    let res =
        send(TestRequest::get().uri("/api-docs/openapi.json").insert_header((header::ACCEPT_ENCODING, "gzip"))).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(header_of(&res, header::CONTENT_ENCODING).as_deref(), Some("gzip"));
    let plain = send(TestRequest::get().uri("/api-docs/openapi.json")).await;
    assert_eq!(header_of(&plain, header::CONTENT_ENCODING), None);
}

#[actix_web::test]
async fn bodies_must_be_small_json() {
    let register = || TestRequest::post().uri("/api/v1/auth/register");
    let res = send(register().insert_header((header::CONTENT_TYPE, "text/plain")).set_payload("{}")).await;
    assert_eq!(res.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_security_headers(&res, "415");
    let body: Value = serde_json::from_slice(&test::read_body(res).await).expect("json");
    assert_eq!(body["error"], "unsupported_media_type");

    let big = format!(r#"{{"email": "a@example.com", "password": "{}"}}"#, "x".repeat(2048));
    let res = send(register().insert_header((header::CONTENT_TYPE, "application/json")).set_payload(big)).await;
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body: Value = serde_json::from_slice(&test::read_body(res).await).expect("json");
    assert_eq!(body["error"], "payload_too_large");
}
