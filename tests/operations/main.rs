//! Rate limits and metrics through the real application: on the memory adapters and, in
//! `postgres::`, on Postgres + Redis (where the counters live in Redis).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use brokerage_app::{Application, Settings};
use brokerage_e2e::{Backend, PASSWORD, Reply, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::json;

fn header(reply: &Reply, name: &str) -> Option<u64> {
    reply.headers.get(name).and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok())
}

async fn limited_app(backend: Backend) -> TestApp {
    let overrides = [
        ("BROKERAGE__RATE_LIMIT__LOGIN_LIMIT", "2"),
        ("BROKERAGE__RATE_LIMIT__TRADING_LIMIT", "3"),
        ("BROKERAGE__RATE_LIMIT__TRADING_WINDOW_SECS", "60"),
        // Tests share one Redis: counters of other tests and runs must not count here.
        ("BROKERAGE__RATE_LIMIT__KEY_PREFIX", &format!("test:{}:", uuid::Uuid::now_v7())),
    ];
    TestApp::spawn_with(backend, overrides.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()).await
}

async fn login(app: &TestApp, email: &str, password: &str) -> Reply {
    app.request(Method::POST, "/api/v1/auth/login", None, Some(json!({"email": email, "password": password}))).await
}

/// Login is limited per IP (2 here), orders per user (3 per minute here); over the limit the
/// answer is 429 `rate_limited` with `Retry-After`, and every limited answer says where the
/// caller stands.
async fn over_the_limit_answers_429_with_headers(backend: Backend) {
    let app = limited_app(backend).await;
    let email = format!("{}@example.com", uuid::Uuid::now_v7().simple());
    let reg = app
        .request(Method::POST, "/api/v1/auth/register", None, Some(json!({"email": email, "password": PASSWORD})))
        .await;
    assert_eq!(reg.status, StatusCode::CREATED);
    assert_eq!(header(&reg, "ratelimit-limit"), Some(100), "register spends the general budget");

    let ok = login(&app, &email, PASSWORD).await;
    assert_eq!(ok.status, StatusCode::OK);
    assert_eq!((header(&ok, "ratelimit-limit"), header(&ok, "ratelimit-remaining")), (Some(2), Some(1)));
    let token = ok.body["access_token"].as_str().expect("token").to_owned();
    let wrong = login(&app, &email, "not the password at all").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(header(&wrong, "ratelimit-remaining"), Some(0));
    let refused = login(&app, &email, PASSWORD).await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS, "{:?}", refused.body);
    assert_eq!(refused.error(), "rate_limited");
    let retry_after = header(&refused, "retry-after").expect("Retry-After");
    assert!((1..=900).contains(&retry_after), "{retry_after}");
    assert_eq!(header(&refused, "ratelimit-reset"), Some(retry_after));
    assert_eq!(header(&refused, "ratelimit-remaining"), Some(0));
    assert!(refused.body["request_id"].is_string());

    let dep = app.post("/api/v1/account/deposits", &token, json!({"amount": "10000"})).await;
    assert_eq!(dep.status, StatusCode::CREATED);
    let order = json!({"symbol": "AAPL", "side": "buy", "type": "market", "qty": "1"});
    for remaining in [2, 1, 0] {
        let placed = app.post("/api/v1/orders", &token, order.clone()).await;
        assert_eq!(placed.status, StatusCode::CREATED, "{:?}", placed.body);
        assert_eq!(header(&placed, "ratelimit-remaining"), Some(remaining));
    }
    let throttled = app.post("/api/v1/orders", &token, order).await;
    assert_eq!(throttled.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(header(&throttled, "retry-after").is_some_and(|s| (1..=60).contains(&s)));
    let list = app.get("/api/v1/orders?status=all", &token).await;
    assert_eq!(list.status, StatusCode::OK, "reads have their own budget");
    assert_eq!(list.body["data"].as_array().map(Vec::len), Some(3), "the refused order was not placed");

    let metrics = app.request(Method::GET, "/metrics", None, None).await;
    assert_eq!(metrics.status, StatusCode::OK);
    app.stop().await;
}

async fn scrape(app: &TestApp) -> String {
    let res = app.client.get(format!("{}/metrics", app.base)).send().await.expect("scraped");
    assert_eq!(res.status(), StatusCode::OK);
    res.text().await.expect("text")
}

fn has_line(text: &str, name: &str, labels: &[&str]) -> bool {
    text.lines().any(|l| l.starts_with(&format!("{name}{{")) && labels.iter().all(|label| l.contains(label)))
}

/// Orders, requests and pools show up in `/metrics`.
async fn metrics_follow_orders_requests_and_pools(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let c = app.funded_customer("5000").await;
    let filled = app
        .post("/api/v1/orders", &c.token, json!({"symbol": "AAPL", "side": "buy", "type": "market", "qty": "1"}))
        .await;
    assert_eq!(filled.status, StatusCode::CREATED);
    let resting = json!({"symbol": "AAPL", "side": "buy", "type": "limit", "qty": "1", "limit_price": "1"});
    assert_eq!(app.post("/api/v1/orders", &c.token, resting).await.status, StatusCode::CREATED);
    let too_big = json!({"symbol": "AAPL", "side": "buy", "type": "market", "qty": "100000"});
    assert_eq!(app.post("/api/v1/orders", &c.token, too_big).await.status, StatusCode::UNPROCESSABLE_ENTITY);

    let text = scrape(&app).await;
    assert!(has_line(&text, "brokerage_orders_placed_total", &[r#"type="market""#]), "{text}");
    assert!(has_line(&text, "brokerage_orders_placed_total", &[r#"type="limit""#]), "{text}");
    assert!(has_line(&text, "brokerage_orders_filled_total", &[r#"type="market""#]), "{text}");
    assert!(
        has_line(
            &text,
            "brokerage_orders_rejected_total",
            &[r#"type="market""#, r#"reason="insufficient_buying_power""#]
        ),
        "{text}"
    );
    assert!(
        has_line(
            &text,
            "http_server_requests_total",
            &[r#"method="POST""#, r#"route="/api/v1/orders""#, r#"status="201""#]
        ),
        "{text}"
    );
    assert!(has_line(&text, "http_server_request_duration_seconds_bucket", &[r#"route="/api/v1/orders""#]), "{text}");
    if backend == Backend::Postgres {
        for pool in ["postgres", "redis"] {
            let label = format!(r#"pool="{pool}""#);
            assert!(has_line(&text, "brokerage_pool_connections", &[&label, r#"state="idle""#]), "{text}");
            assert!(has_line(&text, "brokerage_pool_connections", &[&label, r#"state="in_use""#]), "{text}");
            assert!(has_line(&text, "brokerage_pool_max_connections", &[&label]), "{text}");
        }
    }
    app.stop().await;
}

mod memory {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn over_the_limit_answers_429_with_headers() {
        super::over_the_limit_answers_429_with_headers(Backend::Memory).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn metrics_follow_orders_requests_and_pools() {
        super::metrics_follow_orders_requests_and_pools(Backend::Memory).await;
    }

    /// `http.worker_nice` is applied to every HTTP worker thread (a positive value: needs no
    /// privilege), and nothing else's priority changes; an impossible value stops start-up.
    #[cfg(target_os = "linux")]
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn worker_nice_sets_the_http_workers_priority() {
        let env = |nice: &str| {
            [
                ("BROKERAGE__HTTP__HOST", "127.0.0.1"),
                ("BROKERAGE__HTTP__PORT", "0"),
                ("BROKERAGE__HTTP__WORKERS", "2"),
                ("BROKERAGE__HTTP__WORKER_NICE", nice),
            ]
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect::<Vec<_>>()
        };
        let refused = Application::build(Settings::load_from(None, env("-21")).expect("settings")).await;
        assert!(refused.is_err(), "-21 is no nice value");

        let app = Application::build(Settings::load_from(None, env("3")).expect("settings")).await.expect("builds");
        let port = app.port();
        let handle = app.handle();
        let running = tokio::spawn(app.run_until_stopped());
        // Workers start with the server; a request makes sure they are up.
        let live = reqwest::get(format!("http://127.0.0.1:{port}/health/live")).await.expect("answers");
        assert_eq!(live.status(), StatusCode::OK);
        let threads = std::fs::read_dir("/proc/self/task").expect("threads");
        let (mut workers, mut others_reniced) = (Vec::new(), Vec::new());
        for task in threads.flatten() {
            let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
            let Some((head, tail)) = stat.rsplit_once(')') else { continue };
            let name = head.split_once('(').map_or("", |(_, n)| n).to_owned();
            let nice: i32 = tail.split(' ').nth(17).and_then(|n| n.parse().ok()).unwrap_or(0);
            if name.starts_with("actix-server w") {
                workers.push(nice);
            } else if nice == 3 {
                others_reniced.push(name);
            }
        }
        // Tests of this binary run side by side in one process, so another test's server may
        // have workers (at nice 0) alive too: ours are the two at 3.
        let ours = workers.iter().filter(|&&nice| nice == 3).count();
        assert_eq!(ours, 2, "both HTTP workers at the configured nice: {workers:?}");
        assert!(others_reniced.is_empty(), "only the workers: {others_reniced:?}");
        handle.stop(true).await;
        running.await.expect("joined").expect("stopped cleanly");
    }

    /// With `BROKERAGE__HTTP__ADMIN_PORT`, `/metrics` answers on the admin listener only.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_admin_port_takes_metrics_off_the_public_port() {
        let env = [
            ("BROKERAGE__HTTP__HOST", "127.0.0.1"),
            ("BROKERAGE__HTTP__PORT", "0"),
            ("BROKERAGE__HTTP__ADMIN_PORT", "0"),
            ("BROKERAGE__HTTP__WORKERS", "1"),
        ];
        let settings =
            Settings::load_from(None, env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))).expect("settings");
        let app = Application::build(settings).await.expect("builds");
        let (public, admin) = (app.port(), app.admin_port().expect("an admin port"));
        assert_ne!(public, admin);
        let handle = app.handle();
        let running = tokio::spawn(app.run_until_stopped());
        let get = |port: u16, path: &str| reqwest::get(format!("http://127.0.0.1:{port}{path}"));

        let hidden = get(public, "/metrics").await.expect("answers");
        assert_eq!(hidden.status(), StatusCode::NOT_FOUND);
        assert_eq!(get(public, "/health/live").await.expect("answers").status(), StatusCode::OK);
        let shown = get(admin, "/metrics").await.expect("answers");
        assert_eq!(shown.status(), StatusCode::OK);
        assert!(shown.text().await.expect("text").contains("http_server_requests_total"));
        assert_eq!(get(admin, "/health/ready").await.expect("answers").status(), StatusCode::OK);
        assert_eq!(get(admin, "/api/v1/me").await.expect("answers").status(), StatusCode::NOT_FOUND, "no API there");

        handle.stop(true).await;
        running.await.expect("joined").expect("stopped cleanly");
        assert!(get(admin, "/metrics").await.is_err(), "the admin listener stops with the server");
    }
}

mod postgres {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn over_the_limit_answers_429_with_headers() {
        super::over_the_limit_answers_429_with_headers(Backend::Postgres).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn metrics_follow_orders_requests_and_pools() {
        super::metrics_follow_orders_requests_and_pools(Backend::Postgres).await;
    }

    /// Two instances on one Redis share one budget.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn instances_share_the_login_budget_through_redis() {
        let prefix = format!("test:{}:", uuid::Uuid::now_v7());
        let overrides = || {
            vec![
                ("BROKERAGE__RATE_LIMIT__LOGIN_LIMIT".to_owned(), "2".to_owned()),
                ("BROKERAGE__RATE_LIMIT__KEY_PREFIX".to_owned(), prefix.clone()),
            ]
        };
        let (a, b) = (
            TestApp::spawn_with(Backend::Postgres, overrides()).await,
            TestApp::spawn_with(Backend::Postgres, overrides()).await,
        );
        // Unknown and unique: the per-account failed-login limit must not be what answers.
        let email = &format!("{}@example.com", uuid::Uuid::now_v7().simple());
        assert_eq!(login(&a, email, "wrong password one").await.status, StatusCode::UNAUTHORIZED);
        assert_eq!(login(&b, email, "wrong password two").await.status, StatusCode::UNAUTHORIZED);
        assert_eq!(login(&a, email, "wrong password three").await.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(login(&b, email, "wrong password four").await.status, StatusCode::TOO_MANY_REQUESTS);
        a.stop().await;
        b.stop().await;
    }
}
