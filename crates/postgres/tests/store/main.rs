//! Integration tests of the Postgres adapters against a real server: each test gets its own
//! database cloned from the migrated template. Needs `DATABASE_URL` (a server where databases
//! may be created), e.g. `postgres://postgres@127.0.0.1:5432/postgres`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod assets;
mod common;
mod concurrency;
mod funds;
mod orders;
mod pool;
mod schema;
mod users;
