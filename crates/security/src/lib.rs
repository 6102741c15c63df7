//! Crypto adapters: argon2id password hashing (on its own low-priority threads), JWT access tokens,
//! TOTP one-time codes, AES-256-GCM encryption of secrets at rest, token digests and
//! HMAC-SHA-256 request signatures. RustCrypto throughout, besides `jsonwebtoken`'s backend.

mod cipher;
mod digests;
mod encoding;
mod hash_pool;
mod jwt;
mod password;
mod priority;
mod totp;

pub use cipher::{AesGcmCipher, CipherKeys};
pub use digests::{Digests, HmacSigner};
pub use jwt::{JwtConfig, JwtIssuer, JwtKey};
pub use password::{Argon2Hasher, HashingConfig};
pub use priority::{set_autogroup_nice, set_thread_nice};
pub use totp::Totp;
