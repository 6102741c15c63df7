//! Crypto adapters: argon2id password hashing (off the async workers) and JWT access tokens.

mod jwt;
mod password;

pub use jwt::{JwtConfig, JwtIssuer};
pub use password::{Argon2Hasher, HashingConfig};
