//! Idempotency keys (API.md, Conventions): a client that retries a POST which creates or
//! moves something with the same `Idempotency-Key` gets the first answer again instead of a
//! second order or deposit.
//!
//! The rules, all here so every adapter and the HTTP layer share them:
//! - a key is 1 to 255 visible ASCII characters ([`IdempotencyKey::parse`]);
//! - a key is valid for one user and one route ([`IdempotencyScope`]);
//! - the request is identified by a SHA-256 fingerprint of its method, path and body
//!   ([`Fingerprint`], computed by the HTTP layer): same key with another fingerprint is
//!   [`Begin::Mismatch`];
//! - the first request holds the key while it runs ([`Begin::Started`]); a retry meanwhile is
//!   [`Begin::InFlight`]. The hold expires by itself after [`IdempotencyPolicy::lock_ttl`],
//!   so a key is never stuck when an instance dies mid-request;
//! - only final answers are stored ([`is_final`]: 2xx and 4xx business answers), for
//!   [`IdempotencyPolicy::ttl`]; anything else releases the key and a retry runs again;
//! - stored bodies are sealed with the [`SecretCipher`]: they may carry secrets shown once
//!   (a new API key's secret) and the store (Redis) is not encrypted at rest.

use crate::crypto::SecretCipher;
use crate::error::InfraError;
use crate::ids::UserId;
use crate::system::IdGenerator;
use async_trait::async_trait;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// The longest key accepted (API.md).
pub const MAX_KEY_LEN: usize = 255;

// ---- models --------------------------------------------------------------------------------

/// A client's `Idempotency-Key`: 1 to 255 visible ASCII characters (no spaces).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

/// Why a key was refused; the message completes "`Idempotency-Key` …".
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InvalidKey {
    #[error("must not be empty")]
    Empty,
    #[error("must be at most 255 characters")]
    TooLong,
    #[error("must be visible ASCII characters only (no spaces)")]
    NotVisibleAscii,
}

impl IdempotencyKey {
    pub fn parse(raw: &str) -> Result<Self, InvalidKey> {
        if raw.is_empty() {
            return Err(InvalidKey::Empty);
        }
        if !raw.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(InvalidKey::NotVisibleAscii);
        }
        if raw.len() > MAX_KEY_LEN {
            return Err(InvalidKey::TooLong);
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Where a key is valid: one user and one route (`POST /api/v1/orders`). The same key sent by
/// another user, or to another route, is another key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyScope {
    user: UserId,
    route: String,
    key: IdempotencyKey,
}

impl IdempotencyScope {
    pub fn new(user: UserId, route: impl Into<String>, key: IdempotencyKey) -> Self {
        Self { user, route: route.into(), key }
    }

    pub fn user(&self) -> UserId {
        self.user
    }

    pub fn route(&self) -> &str {
        &self.route
    }

    pub fn key(&self) -> &IdempotencyKey {
        &self.key
    }
}

/// SHA-256 of a request's method, path and body: what "the same request" means.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint([u8; 32]);

impl Fingerprint {
    pub const fn from_sha256(digest: [u8; 32]) -> Self {
        Self(digest)
    }

    /// Lower-case hex, as the adapters store it.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({})", self.to_hex())
    }
}

/// One run of a request under a key: the holder of the in-flight lock. Completing or releasing
/// needs it, so a run whose lock expired cannot overwrite or free a later run's key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AttemptId(Uuid);

impl AttemptId {
    pub const fn from_uuid(id: Uuid) -> Self {
        Self(id)
    }

    pub const fn as_uuid(&self) -> &Uuid {
        &self.0
    }
}

/// A final answer, as stored and replayed: status, the headers worth replaying
/// (lower-case names) and the body bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// Whether an answer with `status` is final, so it is stored and replayed: every 2xx, and
/// the 4xx that describe the request itself (validation, business rules, not found, …).
/// Not final, so the key is released and a retry runs again: 5xx (the outcome is unknown or
/// temporary), 401 (the credential, not the request, was refused), 408 and 429 (come back
/// later), and anything else (1xx, 3xx).
pub fn is_final(status: u16) -> bool {
    match status {
        200..=299 => true,
        401 | 408 | 425 | 429 => false,
        400..=499 => true,
        _ => false,
    }
}

/// What [`IdempotencyStore::begin`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Begin {
    /// The key was free: the caller now holds it and runs the request.
    Started,
    /// The key's request ran already: this is its answer.
    Replay(StoredResponse),
    /// The key's first request is still running (or died less than `lock_ttl` ago).
    InFlight,
    /// The key was used for a different request (another fingerprint).
    Mismatch,
}

/// How long keys live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdempotencyPolicy {
    /// How long a final answer is kept and replayed (API.md: at least 24 h).
    pub ttl: Duration,
    /// How long a running request holds its key when nobody completes or releases it (an
    /// instance died mid-request). Keep it above the request timeout.
    pub lock_ttl: Duration,
}

impl Default for IdempotencyPolicy {
    fn default() -> Self {
        Self { ttl: Duration::from_secs(24 * 60 * 60), lock_ttl: Duration::from_secs(60) }
    }
}

// ---- port ----------------------------------------------------------------------------------

/// Keys, their in-flight locks and their stored answers. Shared by every instance in
/// production (Redis).
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait IdempotencyStore: Send + Sync {
    /// In ONE atomic step (two instances racing with one key get exactly one `Started`):
    /// - no record for `scope`: records `fingerprint` as running, held by `attempt` for
    ///   `lock_ttl`, and returns `Started`;
    /// - a record with another fingerprint: `Mismatch` (whether it is running or done);
    /// - a completed record: `Replay` with its stored answer;
    /// - a running record: `InFlight`.
    ///
    /// MUST return `InfraError::Unavailable` when the store cannot be reached.
    async fn begin(
        &self,
        scope: &IdempotencyScope,
        fingerprint: &Fingerprint,
        attempt: AttemptId,
        lock_ttl: Duration,
    ) -> Result<Begin, InfraError>;

    /// Stores `response` as the answer of `scope`, kept for `ttl`, if `attempt` still holds the
    /// key in flight; returns whether it did (`false`: the lock expired and the key was freed
    /// or taken by another attempt, which is left untouched).
    async fn complete(
        &self,
        scope: &IdempotencyScope,
        attempt: AttemptId,
        response: &StoredResponse,
        ttl: Duration,
    ) -> Result<bool, InfraError>;

    /// Frees the key if `attempt` still holds it in flight, so a retry runs again. Does
    /// nothing otherwise (a completed answer or another attempt's lock stays).
    async fn release(&self, scope: &IdempotencyScope, attempt: AttemptId) -> Result<(), InfraError>;
}

// ---- service -------------------------------------------------------------------------------

/// A request that now holds its key: complete it with [`IdempotencyService::finish`] or free
/// it with [`IdempotencyService::release`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    scope: IdempotencyScope,
    id: AttemptId,
}

impl Attempt {
    pub fn scope(&self) -> &IdempotencyScope {
        &self.scope
    }

    pub fn id(&self) -> AttemptId {
        self.id
    }
}

/// What to do with a request that carries a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// Run it, then [`IdempotencyService::finish`] or [`IdempotencyService::release`].
    Started(Attempt),
    /// Answer this, unchanged (its body is opened already).
    Replay(StoredResponse),
    /// Refuse: the first request with this key is still running.
    InFlight,
    /// Refuse: the key was used for a different request.
    Mismatch,
}

/// The idempotency rules over an [`IdempotencyStore`]: attempt ids, lifetimes, which answers
/// are stored, and sealing of stored bodies.
#[derive(Clone)]
pub struct IdempotencyService {
    store: Arc<dyn IdempotencyStore>,
    cipher: Arc<dyn SecretCipher>,
    ids: Arc<dyn IdGenerator>,
    policy: IdempotencyPolicy,
}

impl IdempotencyService {
    pub fn new(
        store: Arc<dyn IdempotencyStore>,
        cipher: Arc<dyn SecretCipher>,
        ids: Arc<dyn IdGenerator>,
        policy: IdempotencyPolicy,
    ) -> Self {
        Self { store, cipher, ids, policy }
    }

    pub fn policy(&self) -> IdempotencyPolicy {
        self.policy
    }

    /// Claims `scope` for a request with `fingerprint` (see [`IdempotencyStore::begin`]).
    #[tracing::instrument(skip_all, fields(idempotency.route = scope.route()))]
    pub async fn begin(&self, scope: IdempotencyScope, fingerprint: &Fingerprint) -> Result<Claim, InfraError> {
        let id = AttemptId::from_uuid(self.ids.new_id());
        Ok(match self.store.begin(&scope, fingerprint, id, self.policy.lock_ttl).await? {
            Begin::Started => Claim::Started(Attempt { scope, id }),
            Begin::Replay(sealed) => Claim::Replay(self.open(sealed)?),
            Begin::InFlight => Claim::InFlight,
            Begin::Mismatch => Claim::Mismatch,
        })
    }

    /// Ends `attempt` with its answer: a final one ([`is_final`]) is stored (sealed) and will
    /// be replayed; any other frees the key so a retry runs again. Returns whether the answer
    /// was stored.
    #[tracing::instrument(skip_all, fields(idempotency.route = attempt.scope.route(), http.response.status_code = response.status))]
    pub async fn finish(&self, attempt: &Attempt, response: &StoredResponse) -> Result<bool, InfraError> {
        if !is_final(response.status) {
            self.release(attempt).await?;
            return Ok(false);
        }
        let sealed = StoredResponse {
            status: response.status,
            headers: response.headers.clone(),
            body: self.cipher.seal(&response.body)?.into_bytes(),
        };
        let stored = self.store.complete(&attempt.scope, attempt.id, &sealed, self.policy.ttl).await?;
        if !stored {
            tracing::warn!(
                idempotency.route = attempt.scope.route(),
                "idempotency lock expired before the request finished; its answer is not stored"
            );
        }
        Ok(stored)
    }

    /// Frees the key of `attempt` (its answer is not final, or it was abandoned).
    pub async fn release(&self, attempt: &Attempt) -> Result<(), InfraError> {
        self.store.release(&attempt.scope, attempt.id).await
    }

    fn open(&self, sealed: StoredResponse) -> Result<StoredResponse, InfraError> {
        let text = String::from_utf8(sealed.body)
            .map_err(|_| InfraError::Unknown(anyhow::anyhow!("a stored idempotent answer is not sealed text")))?;
        Ok(StoredResponse { status: sealed.status, headers: sealed.headers, body: self.cipher.open(&text)? })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]
    use super::*;
    use crate::crypto::MockSecretCipher;
    use crate::system::UuidV7Generator;
    use mockall::predicate::always;

    #[test]
    fn keys_are_1_to_255_visible_ascii_characters() {
        for good in ["a", "0b1c2d3e-uuid-like", "~!@#$%^&*()_+{}|:\"<>?`-=[]\\;',./", &"k".repeat(255)] {
            assert_eq!(IdempotencyKey::parse(good).map(|k| k.as_str().to_owned()), Ok(good.to_owned()));
        }
        assert_eq!(IdempotencyKey::parse(""), Err(InvalidKey::Empty));
        assert_eq!(IdempotencyKey::parse(&"k".repeat(256)), Err(InvalidKey::TooLong));
        for bad in [" ", "with space", "tab\there", "new\nline", "é", "\u{7f}", "nul\0"] {
            assert_eq!(IdempotencyKey::parse(bad), Err(InvalidKey::NotVisibleAscii), "{bad:?}");
        }
    }

    #[test]
    fn scopes_differ_by_user_route_and_key() {
        let key = |k: &str| IdempotencyKey::parse(k).expect("valid");
        let (ann, bob) = (UserId::from_uuid(Uuid::now_v7()), UserId::from_uuid(Uuid::now_v7()));
        let base = IdempotencyScope::new(ann, "POST /api/v1/orders", key("k1"));
        assert_eq!(base, IdempotencyScope::new(ann, "POST /api/v1/orders", key("k1")));
        assert_ne!(base, IdempotencyScope::new(bob, "POST /api/v1/orders", key("k1")));
        assert_ne!(base, IdempotencyScope::new(ann, "POST /api/v1/account/deposits", key("k1")));
        assert_ne!(base, IdempotencyScope::new(ann, "POST /api/v1/orders", key("k2")));
    }

    #[test]
    fn only_2xx_and_business_4xx_answers_are_final() {
        for status in [200, 201, 204, 400, 403, 404, 409, 413, 415, 422] {
            assert!(is_final(status), "{status}");
        }
        for status in [100, 301, 304, 401, 408, 425, 429, 500, 502, 503, 504] {
            assert!(!is_final(status), "{status}");
        }
    }

    #[test]
    fn fingerprints_print_as_hex() {
        let mut digest = [0u8; 32];
        digest[0] = 0xab;
        digest[31] = 0x01;
        let hex = Fingerprint::from_sha256(digest).to_hex();
        assert_eq!(hex.len(), 64);
        assert!(hex.starts_with("ab00") && hex.ends_with("0001"), "{hex}");
    }

    fn scope() -> IdempotencyScope {
        IdempotencyScope::new(
            UserId::from_uuid(Uuid::now_v7()),
            "POST /api/v1/orders",
            IdempotencyKey::parse("k").expect("valid"),
        )
    }

    /// A cipher that marks what it sealed, so the tests see sealing and opening.
    fn marking_cipher() -> MockSecretCipher {
        let mut cipher = MockSecretCipher::new();
        cipher.expect_seal().returning(|plain| Ok(format!("sealed:{}", String::from_utf8_lossy(plain))));
        cipher.expect_open().returning(|sealed| {
            sealed
                .strip_prefix("sealed:")
                .map(|p| p.as_bytes().to_vec())
                .ok_or_else(|| anyhow::anyhow!("not sealed").into())
        });
        cipher
    }

    fn answer(status: u16) -> StoredResponse {
        StoredResponse {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: b"{\"id\":1}".to_vec(),
        }
    }

    fn service(store: MockIdempotencyStore) -> IdempotencyService {
        IdempotencyService::new(
            Arc::new(store),
            Arc::new(marking_cipher()),
            Arc::new(UuidV7Generator),
            IdempotencyPolicy::default(),
        )
    }

    #[tokio::test]
    async fn final_answers_are_stored_sealed_for_the_ttl_and_replayed_opened() {
        let mut store = MockIdempotencyStore::new();
        store
            .expect_begin()
            .times(1)
            .withf(|_, _, _, lock| *lock == Duration::from_secs(60))
            .returning(|_, _, _, _| Ok(Begin::Started));
        store
            .expect_complete()
            .times(1)
            .withf(|_, _, r, ttl| {
                r.body == b"sealed:{\"id\":1}" && r.status == 201 && *ttl == Duration::from_secs(86_400)
            })
            .returning(|_, _, _, _| Ok(true));
        let svc = service(store);
        let Claim::Started(attempt) = svc.begin(scope(), &Fingerprint::from_sha256([1; 32])).await.unwrap() else {
            panic!("a free key starts")
        };
        assert!(svc.finish(&attempt, &answer(201)).await.unwrap());

        let mut store = MockIdempotencyStore::new();
        store.expect_begin().returning(|_, _, _, _| {
            Ok(Begin::Replay(StoredResponse { body: b"sealed:{\"id\":1}".to_vec(), ..answer(201) }))
        });
        let replay = service(store).begin(scope(), &Fingerprint::from_sha256([1; 32])).await.unwrap();
        assert_eq!(replay, Claim::Replay(answer(201)), "the body is opened before it is replayed");
    }

    #[tokio::test]
    async fn answers_that_are_not_final_release_the_key() {
        let mut store = MockIdempotencyStore::new();
        store.expect_begin().returning(|_, _, _, _| Ok(Begin::Started));
        store.expect_complete().never();
        store.expect_release().times(1).with(always(), always()).returning(|_, _| Ok(()));
        let svc = service(store);
        let Claim::Started(attempt) = svc.begin(scope(), &Fingerprint::from_sha256([2; 32])).await.unwrap() else {
            panic!("a free key starts")
        };
        assert!(!svc.finish(&attempt, &answer(503)).await.unwrap());
    }

    #[tokio::test]
    async fn refusals_pass_through() {
        for (found, claim) in [(Begin::InFlight, Claim::InFlight), (Begin::Mismatch, Claim::Mismatch)] {
            let mut store = MockIdempotencyStore::new();
            store.expect_begin().return_once(move |_, _, _, _| Ok(found));
            assert_eq!(service(store).begin(scope(), &Fingerprint::from_sha256([3; 32])).await.unwrap(), claim);
        }
    }
}
