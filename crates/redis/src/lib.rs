//! Redis adapters (bb8-redis). Redis holds what must be shared by every instance and may
//! expire: sessions, rate limits, idempotency keys, nonces, the quote cache.
//! The foundation wires the pool and its readiness check; later features add adapters here.

mod health;
mod pool;

pub use health::RedisHealth;
pub use pool::{RedisConfig, RedisPool, connect};
