//! Crypto the rules need, as ports: the domain decides WHEN to encrypt, hash, sign or check a
//! one-time code; adapters (`brokerage-security`) decide HOW.

use crate::error::InfraError;
use chrono::{DateTime, Utc};

/// Encryption at rest for secrets the server must read back (TOTP secrets, API-key secrets,
/// webhook secrets). A sealed value names the key that sealed it, so keys can rotate.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
pub trait SecretCipher: Send + Sync {
    /// Encrypts with the current key and a fresh random nonce: `"<key id>:<base64 payload>"`.
    fn seal(&self, plaintext: &[u8]) -> Result<String, InfraError>;

    /// Decrypts a value sealed by the current or a previous key. MUST fail (never return
    /// garbage) for a tampered value or an unknown key id.
    fn open(&self, sealed: &str) -> Result<Vec<u8>, InfraError>;

    /// Whether `sealed` was sealed by an older key and should be sealed again.
    fn is_stale(&self, sealed: &str) -> bool;
}

/// Time-based one-time passwords (RFC 6238: HMAC-SHA-1, 6 digits, 30-second steps).
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
pub trait OneTimeCodes: Send + Sync {
    /// A new random shared secret (160 bits).
    fn new_secret(&self) -> Vec<u8>;

    /// The secret as users type it into an authenticator app (RFC 4648 base32, no padding).
    fn display_secret(&self, secret: &[u8]) -> String;

    /// The `otpauth://totp/…` URI authenticator apps scan.
    fn provisioning_uri(&self, secret: &[u8], account_name: &str) -> String;

    /// The time step (unix seconds / 30) whose code equals `code`, looking at most one step
    /// before and after `now`; `None` when no step matches. Comparison is constant-time.
    fn matching_step(&self, secret: &[u8], code: &str, now: DateTime<Utc>) -> Option<i64>;
}

/// Random opaque tokens and their one-way digests (refresh tokens, API-key ids and secrets).
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
pub trait TokenDigests: Send + Sync {
    /// `bytes` random bytes from the OS CSPRNG, URL-safe base64 without padding.
    fn random_token(&self, bytes: usize) -> String;

    /// SHA-256 of `token`, hex. Stored instead of the token itself.
    fn digest(&self, token: &str) -> String;
}

/// HMAC-SHA-256 signatures of requests and webhooks.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
pub trait Signatures: Send + Sync {
    /// Lower-case hex HMAC-SHA-256 of `message` under `secret`.
    fn sign(&self, secret: &[u8], message: &[u8]) -> String;

    /// Whether `signature_hex` is the HMAC of `message` under `secret`, compared in constant
    /// time. Malformed hex is simply `false`.
    fn verify(&self, secret: &[u8], message: &[u8], signature_hex: &str) -> bool;
}
