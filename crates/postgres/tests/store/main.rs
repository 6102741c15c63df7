//! Integration tests of the Postgres adapters against a real server: each test gets its own
//! database cloned from the migrated template. Needs `DATABASE_URL` (a server where databases
//! may be created), e.g. `postgres://postgres@127.0.0.1:5432/postgres`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod assets;
mod audit;
mod common;
mod concurrency;
mod engine;
mod events;
mod funding;
mod funds;
mod orders;
mod pool;
mod replace;
mod request_keys;
mod schema;
mod short_tx;
mod users;
