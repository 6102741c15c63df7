//! In-memory adapters for every Brokerage port: the demo default and fast tests.
//!
//! One [`MemoryStore`] holds all state behind one mutex, so each port method is atomic in
//! the same way a Postgres transaction is; the money rules come from the domain's
//! settlement functions, exactly as in the Postgres adapter. Nothing survives a restart.

mod accounts;
mod orders;
mod positions;
mod state;
mod users;

pub use state::MemoryStore;
