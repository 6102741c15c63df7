//! Second factor: TOTP secrets (sealed at rest) and the one-use rule for codes.

use crate::error::InfraError;
use crate::ids::UserId;
use async_trait::async_trait;

/// A user's TOTP secret, sealed by the `SecretCipher`, and whether 2FA is on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TotpState {
    pub sealed_secret: String,
    pub enabled: bool,
}

#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait TwoFactorStore: Send + Sync {
    /// The user's TOTP state; `None` when no secret was ever set up (or 2FA was disabled).
    async fn totp(&self, user: UserId) -> Result<Option<TotpState>, InfraError>;

    /// Stores a new, not yet enabled secret. MUST refuse (answer `false`, change nothing)
    /// when 2FA is already enabled.
    async fn set_pending(&self, user: UserId, sealed_secret: &str) -> Result<bool, InfraError>;

    /// Turns 2FA on (keeping the secret) or off (forgetting the secret).
    async fn set_enabled(&self, user: UserId, enabled: bool) -> Result<(), InfraError>;

    /// Replaces the sealed secret (re-encryption under a new key); the plaintext is the same.
    async fn reseal(&self, user: UserId, sealed_secret: &str) -> Result<(), InfraError>;

    /// Records time step `step` as used, atomically, only when it is later than every step
    /// used before: `false` means the code was already used (a replay).
    async fn use_step(&self, user: UserId, step: i64) -> Result<bool, InfraError>;
}
