//! Redis errors in the domain's vocabulary.

use brokerage_domain::InfraError;

/// A lost or refused connection or a timeout is `Unavailable` (retry later); anything else
/// (a script error, a type mismatch) is `Unknown`.
pub(crate) fn redis_error(e: redis::RedisError, what: &str) -> InfraError {
    if e.is_io_error() || e.is_connection_dropped() || e.is_timeout() || e.is_connection_refusal() {
        InfraError::Unavailable(anyhow::anyhow!("redis {what}: {e}"))
    } else {
        InfraError::Unknown(anyhow::anyhow!("redis {what}: {e}"))
    }
}
