use super::models::ApiKey;
use crate::error::InfraError;
use crate::ids::{ApiKeyId, UserId};
use crate::paging::{Page, PageRequest};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait ApiKeyStore: Send + Sync {
    /// Stores a key with its sealed secret.
    async fn create(&self, key: &ApiKey, sealed_secret: &str) -> Result<(), InfraError>;

    /// The user's live keys, oldest first.
    async fn list(&self, user: UserId, page: &PageRequest<ApiKeyId>) -> Result<Page<ApiKey, ApiKeyId>, InfraError>;

    /// Revokes the user's key; `false` when it does not exist, is another user's, or is
    /// already revoked.
    async fn revoke(&self, user: UserId, id: ApiKeyId, at: DateTime<Utc>) -> Result<bool, InfraError>;

    /// A live key by its public id, with its sealed secret.
    async fn find_live(&self, key_id: &str) -> Result<Option<(ApiKey, String)>, InfraError>;

    /// Replaces the sealed secret (re-encryption under a new key); the plaintext is the same.
    async fn reseal(&self, id: ApiKeyId, sealed_secret: &str) -> Result<(), InfraError>;
}

/// One-time values remembered for a while (signatures of API-key requests), shared by
/// every instance.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait NonceStore: Send + Sync {
    /// Remembers `nonce` for `ttl_seconds`; `false` when it was already remembered.
    async fn first_use(&self, nonce: &str, ttl_seconds: u64) -> Result<bool, InfraError>;
}
