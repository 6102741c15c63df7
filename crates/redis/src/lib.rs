//! Redis adapters (bb8-redis). Redis holds what must be shared by every instance and may
//! expire: sessions, rate limits, idempotency keys, nonces, the quote cache.
//! The foundation wires the pool and its readiness check; later features add adapters here.

mod errors;
mod health;
mod idempotency;
mod nonces;
mod pool;
mod quote_cache;
mod rate_limit;
mod session_cache;
mod sessions;

pub use health::RedisHealth;
pub use idempotency::RedisIdempotency;
pub use nonces::RedisNonces;
pub use pool::{RedisConfig, RedisManager, RedisPool, TrackedConnection, connect};
pub use quote_cache::{QuoteCacheConfig, RedisQuoteCache};
pub use rate_limit::RedisRateLimiter;
pub use session_cache::CachedSessions;
pub use sessions::{REVOCATIONS, RedisSessions};
