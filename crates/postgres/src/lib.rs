//! Postgres adapters for Brokerage's storage ports.
//!
//! - [`PgStore`] implements `UserStore`, `AccountStore`, `LedgerStore`, `PositionStore`,
//!   `OrderStore` and `HealthCheck` over one [`PgPool`] (bb8 + diesel-async; tokio-postgres
//!   underneath, no libpq).
//! - Every operation the domain requires to be atomic is one transaction that locks the
//!   account row first, then runs the domain's pure settlement rules on the locked rows.
//! - [`run_migrations`] applies the embedded `migrations/` under an advisory lock.
//! - With the `test-support` feature, [`test_support::TestDatabase`] hands each test a fresh
//!   database cloned from a migrated template.
//!
//! One module per port (`users`, `accounts`, `ledger`, `positions`, `orders`, `health`);
//! `rows` converts between rows and domain types and `errors` translates failures.

mod accounts;
mod api_keys;
mod assets;
mod database_url;
mod errors;
mod health;
mod ledger;
mod migrations;
mod orders;
mod pool;
mod positions;
mod rows;
mod schema;
mod store;
#[cfg(feature = "test-support")]
pub mod test_support;
mod two_factor;
mod users;

pub use migrations::{MIGRATIONS, run_migrations};
pub use pool::{PgPool, PoolConfig, connect};
pub use store::PgStore;
