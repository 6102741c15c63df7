//! SIGTERM during a burst of orders, against the real `brokerage` binary on Postgres + Redis
//! (`DATABASE_URL` must point at a server where databases may be created, `REDIS_URL` at a
//! Redis; `make test` provides both).
//!
//! Every request must either complete — and then its order is in the database — or be
//! refused before the server accepted it; none is cut halfway, none answers 5xx, and the
//! process exits 0 within the grace period.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use brokerage_postgres::test_support::TestDatabase;
use serde_json::{Value, json};
use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const PASSWORD: &str = "correct horse battery staple";
const GRACE_SECS: u64 = 10;

/// The server process, its captured stdout (JSON log lines) and its port.
struct Server {
    child: Child,
    logs: Arc<Mutex<Vec<String>>>,
    port: u16,
}

fn start(db: &TestDatabase) -> Server {
    let redis = std::env::var("REDIS_URL").expect("REDIS_URL must point at a Redis server (make test provides one)");
    let mut command = Command::new(env!("CARGO_BIN_EXE_brokerage"));
    command.arg("serve");
    for (key, _) in std::env::vars() {
        if key.starts_with("BROKERAGE__") || key.starts_with("OTEL_") || key == "RUST_LOG" {
            command.env_remove(key);
        }
    }
    let mut child = command
        .env("DATABASE_URL", db.url())
        .env("REDIS_URL", redis)
        .env("BROKERAGE__AUTH__JWT_SECRET", "shutdown-test-secret-0123456789abcdef")
        .env("BROKERAGE__SECURITY__ENCRYPTION_KEY", "0f".repeat(32))
        .env("BROKERAGE__HTTP__HOST", "127.0.0.1")
        .env("BROKERAGE__HTTP__PORT", "0")
        .env("BROKERAGE__HTTP__WORKERS", "2")
        .env("BROKERAGE__HTTP__SHUTDOWN_TIMEOUT_SECS", GRACE_SECS.to_string())
        .env("BROKERAGE__RATE_LIMIT__ENABLED", "false")
        .env("BROKERAGE__LOG__FORMAT", "json")
        .env("BROKERAGE__LOG__FILTER", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the brokerage binary starts");
    let stdout = child.stdout.take().expect("piped stdout");
    let logs = Arc::new(Mutex::new(Vec::new()));
    let (port_tx, port_rx) = std::sync::mpsc::channel();
    let sink = logs.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Ok(v) = serde_json::from_str::<Value>(&line)
                && v["message"] == "listening"
                && let Some(port) = v["port"].as_u64()
            {
                let _ = port_tx.send(port);
            }
            sink.lock().unwrap().push(line);
        }
    });
    let port = port_rx.recv_timeout(Duration::from_secs(60)).expect("the server logs `listening` with its port");
    Server { child, logs, port: u16::try_from(port).expect("a port") }
}

#[derive(Debug)]
enum Outcome {
    /// An HTTP answer.
    Answered(u16),
    /// The connection was refused: the listener was closed.
    Refused,
    /// Anything else: the connection broke after it was opened.
    Broken(String),
}

fn outcome(result: reqwest::Result<reqwest::Response>) -> Outcome {
    match result {
        Ok(res) => Outcome::Answered(res.status().as_u16()),
        Err(e) if e.is_connect() => Outcome::Refused,
        Err(e) => Outcome::Broken(format!("{e:?}")),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_during_a_burst_of_orders_cuts_no_request_and_exits_0() {
    let db = TestDatabase::new().await.expect("a test database (DATABASE_URL must point at a Postgres server)");
    let mut server = start(&db);
    let base = format!("http://127.0.0.1:{}", server.port);
    // A fresh connection per request: a request is either refused at connect or sent whole.
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(GRACE_SECS + 20))
        .build()
        .expect("client");

    let email = format!("{}@example.com", uuid::Uuid::now_v7().simple());
    let creds = json!({"email": email, "password": PASSWORD});
    let reg = client.post(format!("{base}/api/v1/auth/register")).json(&creds).send().await.expect("register");
    assert_eq!(reg.status().as_u16(), 201);
    let login: Value = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&creds)
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("json");
    let token = login["access_token"].as_str().expect("access token").to_owned();
    let dep = client
        .post(format!("{base}/api/v1/account/deposits"))
        .bearer_auth(&token)
        .json(&json!({"amount": "1000000"}))
        .send()
        .await
        .expect("deposit");
    assert_eq!(dep.status().as_u16(), 201);

    // The burst: order clients, plus registering clients whose slow password hashing is
    // surely in flight when the signal comes.
    let completed = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for worker in 0..6 {
        let (client, base, token, email, completed, done) =
            (client.clone(), base.clone(), token.clone(), email.clone(), completed.clone(), done.clone());
        tasks.push(tokio::spawn(async move {
            let mut seen = Vec::new();
            for i in 0.. {
                let id = format!("w{worker}-{i}");
                let (kind, result) = if worker < 4 {
                    let order = json!({"symbol": "AAPL", "side": "buy", "type": "market", "qty": "0.01", "client_order_id": id});
                    ("order", client.post(format!("{base}/api/v1/orders")).bearer_auth(&token).header("x-request-id", &id).json(&order).send().await)
                } else {
                    let creds = json!({"email": format!("{id}-{email}"), "password": PASSWORD});
                    ("register", client.post(format!("{base}/api/v1/auth/register")).header("x-request-id", &id).json(&creds).send().await)
                };
                let outcome = outcome(result);
                let stop = matches!(outcome, Outcome::Refused) || done.load(Ordering::SeqCst);
                if matches!(outcome, Outcome::Answered(_)) {
                    completed.fetch_add(1, Ordering::SeqCst);
                }
                seen.push((kind, id, outcome));
                if stop {
                    break;
                }
            }
            seen
        }));
    }
    let started = Instant::now();
    while completed.load(Ordering::SeqCst) < 40 {
        assert!(started.elapsed() < Duration::from_secs(60), "the burst does not get going");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let signalled = Instant::now();
    let kill = Command::new("kill").args(["-TERM", &server.child.id().to_string()]).status().expect("kill runs");
    assert!(kill.success());
    let status = tokio::task::spawn_blocking(move || {
        let status = server.child.wait().expect("waits");
        (status, server)
    });
    let (status, server) = tokio::time::timeout(Duration::from_secs(GRACE_SECS + 10), status)
        .await
        .expect("the process exits within the grace period")
        .expect("joined");
    let stopped_after = signalled.elapsed();
    assert_eq!(status.code(), Some(0), "exit status {status:?}");
    done.store(true, Ordering::SeqCst);

    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.extend(task.await.expect("client task"));
    }
    let logs = server.logs.lock().unwrap().clone();
    let served: HashSet<String> = logs
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["message"] == "request served")
        .filter_map(|v| v["request_id"].as_str().map(str::to_owned))
        .collect();
    let stored: HashSet<String> = db
        .texts("SELECT client_order_id AS value FROM orders WHERE client_order_id IS NOT NULL")
        .await
        .expect("orders readable")
        .into_iter()
        .flatten()
        .collect();

    let (mut answered, mut refused, mut refused_in_backlog) = (0, 0, 0);
    for (kind, id, outcome) in &outcomes {
        match outcome {
            Outcome::Answered(status) => {
                answered += 1;
                let expected = 201;
                assert_eq!(*status, expected, "{kind} {id} answered {status}");
                assert!(served.contains(id), "{kind} {id} answered but not logged");
                if *kind == "order" {
                    assert!(stored.contains(id), "order {id} answered 201 but is not in the database");
                }
            }
            Outcome::Refused => refused += 1,
            Outcome::Broken(error) => {
                // Only a connection the kernel queued in the very instant the listener closed
                // may break without an answer; the server never read it, so nothing of it
                // may exist.
                assert!(!served.contains(id), "{kind} {id} was served but the client got no answer: {error}");
                assert!(!stored.contains(id), "{kind} {id} was stored but the client got no answer: {error}");
                refused_in_backlog += 1;
            }
        }
    }
    let answered_orders: HashSet<&String> = outcomes
        .iter()
        .filter(|(kind, _, o)| *kind == "order" && matches!(o, Outcome::Answered(_)))
        .map(|(_, id, _)| id)
        .collect();
    assert_eq!(stored.len(), answered_orders.len(), "every stored order was answered");
    assert!(answered >= 40 && refused >= 1, "answered {answered}, refused {refused}");
    assert!(logs.iter().any(|l| l.contains("shutdown signal received")), "the signal was handled");
    eprintln!(
        "answered {answered}, refused at connect {refused}, dropped from the accept queue {refused_in_backlog}; stopped {stopped_after:?} after SIGTERM"
    );
}
