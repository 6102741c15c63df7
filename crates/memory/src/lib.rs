//! In-memory adapters for every Brokerage port: the demo default and fast tests.
//!
//! One [`MemoryStore`] holds all state behind one mutex, so each port method is atomic in
//! the same way a Postgres transaction is; the money rules come from the domain's
//! settlement functions, exactly as in the Postgres adapter. Nothing survives a restart.

mod accounts;
mod assets;
mod idempotency;
mod identity;
mod limits;
mod orders;
mod positions;
mod sessions;
mod state;
mod users;
mod webhooks;

pub use assets::MemoryAssets;
pub use idempotency::MemoryIdempotency;
pub use identity::MemoryNonces;
pub use limits::MemoryRateLimiter;
pub use sessions::MemorySessions;
pub use state::MemoryStore;
pub use webhooks::MemoryWebhooks;
