//! Postgres adapters for Brokerage's storage ports.
//!
//! - [`PgStore`] implements `UserStore`, `AccountStore`, `LedgerStore`, `PositionStore`,
//!   `OrderStore`, `ExecutionStore`, `EventStore` and `HealthCheck` over one [`PgPool`]
//!   (bb8 + diesel-async; tokio-postgres underneath, no libpq).
//! - Every operation the domain requires to be atomic is one transaction that locks its rows
//!   (an existing order first, then the account, then the position), runs the domain's pure
//!   `booking` rules on them and writes the resulting booking (`booking` module).
//! - [`run_migrations`] applies the embedded `migrations/` under an advisory lock.
//! - With the `test-support` feature, [`test_support::TestDatabase`] hands each test a fresh
//!   database cloned from a migrated template.
//!
//! One module per port (`users`, `accounts`, `ledger`, `positions`, `orders`, `execution`,
//! `events`, `health`); `booking` writes what one atomic change books, with the cacheable
//! statements of `statements`; `rows` converts between rows and domain types and `errors`
//! translates failures. `LedgerStore::audit` runs `scripts/check-invariants.sql`.

mod accounts;
mod api_keys;
mod assets;
mod booking;
mod database_url;
mod errors;
mod events;
mod execution;
mod health;
mod lanes;
mod ledger;
mod migrations;
mod orders;
mod pool;
mod positions;
mod request_keys;
mod rows;
mod schema;
mod short_tx;
mod statements;
mod store;
#[cfg(feature = "test-support")]
pub mod test_support;
mod two_factor;
mod users;
mod webhooks;

pub use lanes::PgPools;
pub use migrations::{MIGRATIONS, run_migrations};
pub use pool::{PgPool, PoolConfig, connect, connect_lanes};
pub use store::PgStore;
