//! Operational behaviour of the assembled application: readiness, `/metrics`, rate limits.

use crate::api_tests::{GOOD_TOKEN, Mocks};
use crate::metrics::GaugeProbe;
use crate::rate_limit::{Limit, RateLimitPolicy};
use crate::{ApiState, HttpConfig, Ops, admin_app, app};
use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::header;
use actix_web::test::{self, TestRequest};
use async_trait::async_trait;
use brokerage_domain::InfraError;
use brokerage_domain::limits::{Decision, MockRateLimiter, RateLimiter};
use brokerage_domain::system::HealthCheck;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn config() -> HttpConfig {
    HttpConfig { workers: 1, max_body_bytes: 1024, shutdown_timeout_secs: 1, ..HttpConfig::default() }
}

async fn call(state: ApiState, req: TestRequest) -> ServiceResponse<impl MessageBody> {
    let svc = test::init_service(app(state, &config())).await;
    svc.call(req.to_request()).await.expect("the app answers every request")
}

fn header_of<B>(res: &ServiceResponse<B>, name: &str) -> Option<String> {
    res.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

async fn json_of(res: ServiceResponse<impl MessageBody>) -> Value {
    let body = test::read_body(res).await;
    serde_json::from_slice(&body).unwrap_or_else(|e| panic!("not JSON ({e}): {body:?}"))
}

// ---- readiness ------------------------------------------------------------------------------

struct Flaky(AtomicBool);

#[async_trait]
impl HealthCheck for Flaky {
    fn name(&self) -> &'static str {
        "flaky"
    }

    async fn check(&self) -> Result<(), String> {
        if self.0.load(Ordering::SeqCst) { Ok(()) } else { Err("connection refused".to_owned()) }
    }
}

#[actix_web::test]
async fn readiness_turns_503_while_a_check_fails_and_recovers_by_itself() {
    let flaky = Arc::new(Flaky(AtomicBool::new(true)));
    let mut mocks = Mocks::new();
    mocks.health.push(flaky.clone());
    let svc = test::init_service(app(mocks.state(), &config())).await;
    let ready = || TestRequest::get().uri("/health/ready").to_request();

    let res = svc.call(ready()).await.expect("answers");
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(json_of(res).await["checks"]["flaky"], "ok");

    flaky.0.store(false, Ordering::SeqCst);
    let res = svc.call(ready()).await.expect("answers");
    assert_eq!(res.status().as_u16(), 503);
    let body = json_of(res).await;
    assert_eq!(body["status"], "unavailable");
    assert_eq!(body["checks"]["flaky"], "connection refused");
    let live = svc.call(TestRequest::get().uri("/health/live").to_request()).await.expect("answers");
    assert_eq!(live.status().as_u16(), 200, "liveness does not depend on dependencies");

    flaky.0.store(true, Ordering::SeqCst);
    let res = svc.call(ready()).await.expect("answers");
    assert_eq!(res.status().as_u16(), 200, "no restart needed once the dependency is back");
}

// ---- metrics --------------------------------------------------------------------------------

async fn scrape(res: ServiceResponse<impl MessageBody>) -> String {
    assert_eq!(res.status().as_u16(), 200);
    assert!(header_of(&res, "content-type").is_some_and(|ct| ct.starts_with("text/plain")));
    String::from_utf8(test::read_body(res).await.to_vec()).expect("utf-8")
}

#[actix_web::test]
async fn metrics_count_requests_by_method_route_and_status() {
    let svc = test::init_service(app(Mocks::new().state(), &config())).await;
    let order_id = "0190d7a4-0000-7000-8000-000000000000";
    let res = svc.call(TestRequest::get().uri(&format!("/api/v1/orders/{order_id}")).to_request()).await;
    assert_eq!(res.expect("answers").status().as_u16(), 401);
    let text = scrape(svc.call(TestRequest::get().uri("/metrics").to_request()).await.expect("answers")).await;
    assert!(
        text.lines().any(|l| l.starts_with("http_server_requests_total{")
            && l.contains(r#"method="GET""#)
            && l.contains(r#"route="/api/v1/orders/{id}""#)
            && l.contains(r#"status="401""#)),
        "{text}"
    );
    assert!(text.contains("http_server_request_duration_seconds_bucket{"), "a histogram with buckets: {text}");
    assert!(!text.contains(order_id), "routes are patterns, never raw paths");
}

#[actix_web::test]
async fn with_an_admin_port_metrics_leave_the_public_port() {
    let mut state = Mocks::new().state();
    state.ops = Ops {
        metrics_on_public_port: false,
        gauges: vec![GaugeProbe::new(
            "brokerage_test_pool_connections",
            &[("pool", "test"), ("state", "idle")],
            || 7.0,
        )],
        ..Ops::default()
    };
    let public = call(state.clone(), TestRequest::get().uri("/metrics")).await;
    assert_eq!(public.status().as_u16(), 404);
    assert_eq!(json_of(public).await["error"], "not_found");

    let admin = test::init_service(admin_app(state)).await;
    let text = scrape(admin.call(TestRequest::get().uri("/metrics").to_request()).await.expect("answers")).await;
    assert!(
        text.lines().any(|l| l.starts_with("brokerage_test_pool_connections{") && l.ends_with(" 7")),
        "gauges are sampled at scrape time: {text}"
    );
    let ready = admin.call(TestRequest::get().uri("/health/ready").to_request()).await.expect("answers");
    assert_eq!(ready.status().as_u16(), 200, "probes work on the admin port too");
}

// ---- rate limits ----------------------------------------------------------------------------

/// Counts per key in one never-ending window and remembers the keys it saw.
#[derive(Default)]
struct Counting(Mutex<HashMap<String, u64>>);

#[async_trait]
impl RateLimiter for Counting {
    async fn check(&self, key: &str, limit: u32, window: Duration) -> Result<Decision, InfraError> {
        let mut counts = self.0.lock().expect("lock");
        let n = counts.entry(key.to_owned()).or_default();
        *n += 1;
        Ok(Decision::from_count(*n, limit, window))
    }
}

fn limited(limiter: Arc<dyn RateLimiter>, policy: RateLimitPolicy) -> ApiState {
    let mut state = Mocks::new().state();
    state.ops = Ops { rate_limiter: Some(limiter), rate_limits: policy, ..Ops::default() };
    state
}

fn policy() -> RateLimitPolicy {
    RateLimitPolicy {
        login: Limit::new(1, Duration::from_secs(900)),
        trading: Limit::new(1, Duration::from_secs(1)),
        general: Limit::new(2, Duration::from_secs(60)),
        ..RateLimitPolicy::default()
    }
}

#[actix_web::test]
async fn over_the_limit_answers_429_with_retry_after_and_ratelimit_headers() {
    let limiter = Arc::new(Counting::default());
    let svc = test::init_service(app(limited(limiter.clone(), policy()), &config())).await;
    let me = || TestRequest::get().uri("/api/v1/me").peer_addr("203.0.113.9:4000".parse().expect("addr")).to_request();

    let first = svc.call(me()).await.expect("answers");
    assert_eq!(first.status().as_u16(), 401, "counted, then served");
    assert_eq!(header_of(&first, "ratelimit-limit").as_deref(), Some("2"));
    assert_eq!(header_of(&first, "ratelimit-remaining").as_deref(), Some("1"));
    assert_eq!(header_of(&first, "ratelimit-reset").as_deref(), Some("60"));
    assert_eq!(header_of(&first, "retry-after"), None);
    let _second = svc.call(me()).await.expect("answers");

    let third = svc.call(me()).await.expect("answers");
    assert_eq!(third.status().as_u16(), 429);
    assert_eq!(header_of(&third, "retry-after").as_deref(), Some("60"));
    assert_eq!(header_of(&third, "ratelimit-remaining").as_deref(), Some("0"));
    let request_id = header_of(&third, "x-request-id").expect("request id");
    let body = json_of(third).await;
    assert_eq!(body["error"], "rate_limited");
    assert_eq!(body["request_id"], request_id.as_str());

    let keys: Vec<String> = limiter.0.lock().expect("lock").keys().cloned().collect();
    assert_eq!(keys, vec!["general:ip:203.0.113.9".to_owned()]);

    let health = svc.call(TestRequest::get().uri("/health/live").to_request()).await.expect("answers");
    assert_eq!(health.status().as_u16(), 200, "probes are never limited");
    assert_eq!(header_of(&health, "ratelimit-limit"), None);
}

#[actix_web::test]
async fn trading_counts_per_verified_user_and_separately_from_reads() {
    let limiter = Arc::new(Counting::default());
    let mocks = Mocks::new();
    let caller = mocks.caller.user_id;
    let mut state = mocks.state();
    state.ops = Ops { rate_limiter: Some(limiter.clone()), rate_limits: policy(), ..Ops::default() };
    let svc = test::init_service(app(state, &config())).await;
    let cancel = |token: &str| {
        TestRequest::delete()
            .uri("/api/v1/orders/not-a-uuid")
            .insert_header((header::AUTHORIZATION, format!("Bearer {token}")))
            .to_request()
    };
    assert_eq!(svc.call(cancel(GOOD_TOKEN)).await.expect("answers").status().as_u16(), 404);
    assert_eq!(svc.call(cancel(GOOD_TOKEN)).await.expect("answers").status().as_u16(), 429);
    // A forged token names nobody: it is counted per IP, not against the user.
    assert_eq!(svc.call(cancel("forged")).await.expect("answers").status().as_u16(), 401);
    let read = TestRequest::get()
        .uri("/api/v1/orders/not-a-uuid")
        .insert_header((header::AUTHORIZATION, format!("Bearer {GOOD_TOKEN}")))
        .to_request();
    assert_eq!(svc.call(read).await.expect("answers").status().as_u16(), 404, "reads spend the general budget");

    let mut keys: Vec<String> = limiter.0.lock().expect("lock").keys().cloned().collect();
    keys.sort();
    assert_eq!(
        keys,
        vec![format!("general:user:{caller}"), "trading:ip:unknown".to_owned(), format!("trading:user:{caller}")]
    );
}

fn failing_limiter() -> Arc<dyn RateLimiter> {
    let mut limiter = MockRateLimiter::new();
    limiter
        .expect_check()
        .returning(|_, _, _| Err(InfraError::Unavailable(anyhow::anyhow!("redis: connection refused"))));
    Arc::new(limiter)
}

#[actix_web::test]
async fn login_fails_closed_when_the_limiter_fails() {
    // Fail-open for the other classes must not open the login: no password check runs
    // (the mocked hasher and user store expect no call).
    let state = limited(failing_limiter(), RateLimitPolicy { fail_open: true, ..policy() });
    let res = call(
        state,
        TestRequest::post()
            .uri("/api/v1/auth/login")
            .set_json(serde_json::json!({"email": "a@example.com", "password": "correct horse battery"})),
    )
    .await;
    assert_eq!(res.status().as_u16(), 503);
    assert!(header_of(&res, "retry-after").is_some());
    let body = json_of(res).await;
    assert_eq!(body["error"], "unavailable");
    assert!(!body.to_string().contains("redis"), "no infrastructure text reaches the client");
}

#[actix_web::test]
async fn other_classes_fail_open_by_default_and_closed_when_configured() {
    let me = || TestRequest::get().uri("/api/v1/me");
    let open = call(limited(failing_limiter(), policy()), me()).await;
    assert_eq!(open.status().as_u16(), 401, "let through to the handler");
    assert_eq!(header_of(&open, "ratelimit-limit"), None);

    let closed = call(limited(failing_limiter(), RateLimitPolicy { fail_open: false, ..policy() }), me()).await;
    assert_eq!(closed.status().as_u16(), 503);
}

struct Slow;

#[async_trait]
impl RateLimiter for Slow {
    async fn check(&self, _: &str, limit: u32, window: Duration) -> Result<Decision, InfraError> {
        tokio::time::sleep(Duration::from_secs(5)).await;
        Ok(Decision::from_count(1, limit, window))
    }
}

#[actix_web::test]
async fn a_limiter_slower_than_its_timeout_counts_as_failed() {
    let policy = RateLimitPolicy { timeout: Duration::from_millis(20), fail_open: false, ..policy() };
    let started = std::time::Instant::now();
    let res = call(limited(Arc::new(Slow), policy), TestRequest::get().uri("/api/v1/me")).await;
    assert_eq!(res.status().as_u16(), 503);
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[actix_web::test]
async fn disabled_limits_count_nothing() {
    let limiter = Arc::new(Counting::default());
    let state = limited(limiter.clone(), RateLimitPolicy { enabled: false, ..policy() });
    let res = call(state, TestRequest::get().uri("/api/v1/me")).await;
    assert_eq!(header_of(&res, "ratelimit-limit"), None);
    assert!(limiter.0.lock().expect("lock").is_empty());
}
