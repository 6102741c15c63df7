//! Rate limits: the [`RateLimiter`] port and the fixed-window rule both adapters share.
//!
//! A limit is "at most `limit` requests per `window` for one key". The key names who is
//! limited and for what (`login:ip:203.0.113.9`, `trading:user:<uuid>`); the HTTP layer picks
//! keys and classes, the adapters only count. Counting lives in Redis in production so every
//! instance shares one budget; the memory adapter serves the demo mode and tests.
//!
//! Hook for per-account login limits: `AuthService::login` can hold an `Arc<dyn RateLimiter>`
//! and, on a failed password, call `check(&login_failure_key(&email), 5, 15 min)`, refusing
//! further attempts for that e-mail while the decision says `allowed == false` (the HTTP
//! middleware already limits login attempts per client IP; it cannot read the e-mail from
//! the JSON body).

use crate::error::InfraError;
use crate::users::Email;
use async_trait::async_trait;
use std::time::Duration;

/// The answer to one counted request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// Whether this request is within the limit.
    pub allowed: bool,
    /// The limit that was applied.
    pub limit: u32,
    /// Requests still allowed in the current window (0 once the limit is reached).
    pub remaining: u32,
    /// Time until the window resets (and, when refused, until a retry can succeed).
    pub reset_after: Duration,
}

impl Decision {
    /// The fixed-window rule: `count` is the number of requests in the current window,
    /// this one included; `reset_after` is what is left of the window.
    pub fn from_count(count: u64, limit: u32, reset_after: Duration) -> Self {
        let limit_wide = u64::from(limit);
        Self {
            allowed: count <= limit_wide,
            limit,
            remaining: u32::try_from(limit_wide.saturating_sub(count)).unwrap_or(0),
            reset_after,
        }
    }

    /// Whole seconds until the window resets, rounded up and at least 1: what `Retry-After`
    /// and `RateLimit-Reset` say.
    pub fn reset_after_secs(&self) -> u64 {
        let secs = self.reset_after.as_secs() + u64::from(self.reset_after.subsec_nanos() > 0);
        secs.max(1)
    }
}

/// Counts requests per key in fixed windows.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait RateLimiter: Send + Sync {
    /// Counts one request against `key` and says whether it is within `limit` per `window`.
    /// The first request of a key opens a window of `window`; the count resets when it ends.
    /// Counting and reading the count is ONE atomic step, so concurrent instances never
    /// let more than `limit` requests through in one window.
    /// MUST return `InfraError::Unavailable` when the counter store cannot be reached (the
    /// caller decides whether to fail open or closed).
    async fn check(&self, key: &str, limit: u32, window: Duration) -> Result<Decision, InfraError>;
}

/// The key under which failed logins of one account are counted (the hook described in the
/// module documentation). `Email` is already lower-cased, so case does not matter.
pub fn login_failure_key(email: &Email) -> String {
    format!("login-failures:{}", email.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_th_request_is_the_last_allowed() {
        let window = Duration::from_secs(60);
        let first = Decision::from_count(1, 3, window);
        assert!(first.allowed);
        assert_eq!(first.remaining, 2);
        let third = Decision::from_count(3, 3, window);
        assert!(third.allowed);
        assert_eq!(third.remaining, 0);
        let fourth = Decision::from_count(4, 3, window);
        assert!(!fourth.allowed);
        assert_eq!((fourth.remaining, fourth.limit), (0, 3));
    }

    #[test]
    fn reset_seconds_round_up_and_are_never_zero() {
        let d = |ms| Decision::from_count(1, 1, Duration::from_millis(ms));
        assert_eq!(d(0).reset_after_secs(), 1);
        assert_eq!(d(1).reset_after_secs(), 1);
        assert_eq!(d(1000).reset_after_secs(), 1);
        assert_eq!(d(1001).reset_after_secs(), 2);
        assert_eq!(d(899_999).reset_after_secs(), 900);
    }

    #[test]
    fn login_failure_keys_ignore_case() {
        let a = Email::parse("Ann@Example.com").expect("valid");
        let b = Email::parse("ann@example.com").expect("valid");
        assert_eq!(login_failure_key(&a), login_failure_key(&b));
    }
}
