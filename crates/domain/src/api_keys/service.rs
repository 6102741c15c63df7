use super::models::{ApiKey, SignedRequest};
use super::ports::{ApiKeyStore, NonceStore};
use crate::crypto::{SecretCipher, Signatures, TokenDigests};
use crate::error::InfraError;
use crate::ids::ApiKeyId;
use crate::paging::{Page, PageRequest};
use crate::rbac::{ApiScopes, Credential, Forbidden, Permission, Principal};
use crate::system::{Clock, IdGenerator};
use crate::users::{UserStatus, UserStore};
use std::sync::Arc;

/// Requests more than this far from the server's clock are refused, and signatures are
/// remembered this long to refuse replays (API.md).
pub const SIGNATURE_WINDOW_SECONDS: i64 = 300;
const KEY_ID_BYTES: usize = 16;
const SECRET_BYTES: usize = 32;

#[derive(Debug, thiserror::Error)]
pub enum ApiKeyError {
    #[error(transparent)]
    Forbidden(#[from] Forbidden),
    #[error("no such key")]
    NotFound,
    #[error("invalid key request: {0}")]
    Invalid(&'static str),
    #[error(transparent)]
    Infra(#[from] InfraError),
}

/// Why a signed request was refused. Clients all see 401; the reason is for the logs.
#[derive(Debug, thiserror::Error)]
pub enum SignatureError {
    #[error("unknown or revoked key")]
    UnknownKey,
    #[error("timestamp missing, malformed or more than 300 s off")]
    Skewed,
    #[error("bad signature")]
    BadSignature,
    #[error("signature already used")]
    Replayed,
    #[error("the key's owner cannot log in")]
    OwnerInactive,
    #[error(transparent)]
    Infra(#[from] InfraError),
}

/// A new key and its secret, which is shown this once.
#[derive(Debug)]
pub struct CreatedApiKey {
    pub key: ApiKey,
    pub secret: String,
}

#[derive(Clone)]
pub struct ApiKeyService {
    keys: Arc<dyn ApiKeyStore>,
    users: Arc<dyn UserStore>,
    nonces: Arc<dyn NonceStore>,
    cipher: Arc<dyn SecretCipher>,
    digests: Arc<dyn TokenDigests>,
    signatures: Arc<dyn Signatures>,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGenerator>,
}

/// The ports [`ApiKeyService`] needs.
pub struct ApiKeyPorts {
    pub keys: Arc<dyn ApiKeyStore>,
    pub users: Arc<dyn UserStore>,
    pub nonces: Arc<dyn NonceStore>,
    pub cipher: Arc<dyn SecretCipher>,
    pub digests: Arc<dyn TokenDigests>,
    pub signatures: Arc<dyn Signatures>,
    pub clock: Arc<dyn Clock>,
    pub ids: Arc<dyn IdGenerator>,
}

impl ApiKeyService {
    pub fn new(p: ApiKeyPorts) -> Self {
        Self {
            keys: p.keys,
            users: p.users,
            nonces: p.nonces,
            cipher: p.cipher,
            digests: p.digests,
            signatures: p.signatures,
            clock: p.clock,
            ids: p.ids,
        }
    }

    /// Creates a key for the caller. Only a logged-in person may (a key cannot mint keys).
    #[tracing::instrument(skip_all, fields(user.id = %who.user_id))]
    pub async fn create(&self, who: &Principal, name: String, scopes: ApiScopes) -> Result<CreatedApiKey, ApiKeyError> {
        who.require(Permission::ReadOwn)?;
        if who.session().is_none() {
            return Err(Forbidden.into());
        }
        if scopes == ApiScopes::default() {
            return Err(ApiKeyError::Invalid("at least one scope is required"));
        }
        let secret = self.digests.random_token(SECRET_BYTES);
        let key = ApiKey {
            id: ApiKeyId::from_uuid(self.ids.new_id()),
            user_id: who.user_id,
            account_id: who.account_id,
            name,
            key_id: format!("bk_{}", self.digests.random_token(KEY_ID_BYTES)),
            scopes,
            created_at: self.clock.now(),
        };
        self.keys.create(&key, &self.cipher.seal(secret.as_bytes())?).await?;
        Ok(CreatedApiKey { key, secret })
    }

    pub async fn list(
        &self,
        who: &Principal,
        page: &PageRequest<ApiKeyId>,
    ) -> Result<Page<ApiKey, ApiKeyId>, ApiKeyError> {
        who.require(Permission::ReadOwn)?;
        Ok(self.keys.list(who.user_id, page).await?)
    }

    /// Revokes one of the caller's keys; another user's key is `NotFound`.
    pub async fn revoke(&self, who: &Principal, id: ApiKeyId) -> Result<(), ApiKeyError> {
        who.require(Permission::ReadOwn)?;
        if self.keys.revoke(who.user_id, id, self.clock.now()).await? { Ok(()) } else { Err(ApiKeyError::NotFound) }
    }

    /// The caller behind a signed request. Checks, in order: the key is live, the timestamp
    /// is within 300 s, the HMAC matches (constant time), and only then spends the signature
    /// as a nonce, so a rejected request consumes nothing.
    #[tracing::instrument(skip_all)]
    pub async fn authenticate(&self, req: &SignedRequest<'_>) -> Result<Principal, SignatureError> {
        let (key, sealed) = self.keys.find_live(req.key_id).await?.ok_or(SignatureError::UnknownKey)?;
        let ts: i64 = req.timestamp.parse().map_err(|_| SignatureError::Skewed)?;
        if (self.clock.now().timestamp() - ts).abs() > SIGNATURE_WINDOW_SECONDS {
            return Err(SignatureError::Skewed);
        }
        let secret = self.cipher.open(&sealed)?;
        if !self.signatures.verify(&secret, &req.message(), req.signature) {
            return Err(SignatureError::BadSignature);
        }
        let nonce = format!("{}:{}", key.key_id, req.signature.to_ascii_lowercase());
        let window = SIGNATURE_WINDOW_SECONDS.unsigned_abs() * 2;
        if !self.nonces.first_use(&self.digests.digest(&nonce), window).await? {
            return Err(SignatureError::Replayed);
        }
        if self.cipher.is_stale(&sealed) {
            self.keys.reseal(key.id, &self.cipher.seal(&secret)?).await?;
        }
        let user = self.users.get(key.user_id).await?.filter(|u| u.status == UserStatus::Active);
        let user = user.ok_or(SignatureError::OwnerInactive)?;
        Ok(Principal {
            user_id: user.id,
            account_id: key.account_id,
            role: user.role,
            credential: Credential::ApiKey(key.scopes),
        })
    }
}
