//! `brokerage check-invariants` against a real database (`DATABASE_URL` must point at a
//! server where databases may be created; `make test` provides one): exit 0 and "invariants
//! hold" on a sound book, exit 1 naming the violation on a broken one.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use brokerage_postgres::test_support::TestDatabase;
use std::process::{Command, Output};

fn check(url: &str) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_brokerage"));
    for (key, _) in std::env::vars() {
        if key.starts_with("BROKERAGE__") || key.starts_with("OTEL_") || key == "RUST_LOG" {
            command.env_remove(key);
        }
    }
    command
        .arg("check-invariants")
        .env("DATABASE_URL", url)
        .env("BROKERAGE__LOG__FILTER", "warn")
        .output()
        .expect("the brokerage binary runs")
}

#[tokio::test]
async fn a_sound_book_passes_and_a_broken_one_fails_with_its_violations() {
    let db = TestDatabase::new().await.expect("a test database (DATABASE_URL must point at a Postgres server)");
    let sound = check(db.url());
    let stdout = String::from_utf8_lossy(&sound.stdout);
    assert!(sound.status.success(), "{sound:?}");
    assert!(stdout.contains("invariants hold"), "{stdout}");

    // Cash that no deposit brought in: the conservation of cash is broken.
    db.texts(
        "WITH u AS (INSERT INTO users (id, email, password_hash, role, status, created_at) \
         VALUES (gen_random_uuid(), 'broken@example.com', 'x', 'customer', 'active', now()) RETURNING id), \
         a AS (INSERT INTO accounts (id, user_id, cash, held, created_at) \
         SELECT gen_random_uuid(), id, 100, 0, now() FROM u RETURNING id::text AS value) \
         SELECT value FROM a",
    )
    .await
    .expect("the corruption is written");
    let broken = check(db.url());
    let stdout = String::from_utf8_lossy(&broken.stdout);
    assert_eq!(broken.status.code(), Some(1), "{broken:?}");
    assert!(stdout.contains("violation"), "{stdout}");
    assert!(!stdout.contains("invariants hold"), "{stdout}");
}

#[test]
fn without_a_database_it_refuses_to_guess() {
    let mut command = Command::new(env!("CARGO_BIN_EXE_brokerage"));
    command.env_remove("DATABASE_URL").arg("check-invariants");
    let out = command.output().expect("runs");
    assert!(!out.status.success(), "{out:?}");
}
