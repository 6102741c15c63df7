use super::models::{AccessToken, Credentials, Email, Password, PasswordHash, Role, User, UserStatus};
use crate::accounts::Account;
use crate::error::InfraError;
use crate::ids::UserId;
use crate::paging::{Page, PageRequest};
use crate::rbac::Principal;
use async_trait::async_trait;
use chrono::{DateTime, Utc};

#[derive(Debug, thiserror::Error)]
pub enum CreateUserError {
    #[error("e-mail already registered")]
    EmailTaken,
    #[error(transparent)]
    Infra(#[from] InfraError),
}

#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait UserStore: Send + Sync {
    /// Stores a new user and its (empty) account in one atomic step.
    /// MUST return `CreateUserError::EmailTaken` when the e-mail is already registered.
    async fn create_with_account(
        &self,
        user: &User,
        hash: &PasswordHash,
        account: &Account,
    ) -> Result<(), CreateUserError>;

    /// The credentials of the user with this e-mail, if any.
    async fn credentials_by_email(&self, email: &Email) -> Result<Option<Credentials>, InfraError>;

    async fn get(&self, id: UserId) -> Result<Option<User>, InfraError>;

    /// Applies `changes` to the user; `None` when there is no such user.
    async fn update(&self, id: UserId, changes: &UserChanges) -> Result<Option<User>, InfraError>;

    /// Replaces the password hash; `false` when there is no such user.
    async fn set_password(&self, id: UserId, hash: &PasswordHash) -> Result<bool, InfraError>;

    /// Every user, oldest first.
    async fn list(&self, page: &PageRequest<UserId>) -> Result<Page<User, UserId>, InfraError>;
}

/// Changes an administrator may make to a user.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserChanges {
    pub role: Option<Role>,
    pub status: Option<UserStatus>,
}

/// Password hashing. Implementations MUST run the hash off the async workers.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait PasswordHasher: Send + Sync {
    async fn hash(&self, password: &Password) -> Result<PasswordHash, InfraError>;

    /// Whether `candidate` matches `hash`. With `hash = None` it MUST spend the same time
    /// as a real check against a dummy hash and answer `false`, so that an unknown e-mail
    /// cannot be told from a wrong password by timing.
    async fn verify(&self, candidate: &str, hash: Option<PasswordHash>) -> Result<bool, InfraError>;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("token expired")]
    Expired,
    #[error("token invalid")]
    Invalid,
}

/// Access tokens (JWT in production).
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
pub trait TokenIssuer: Send + Sync {
    fn issue(&self, principal: &Principal, now: DateTime<Utc>) -> Result<AccessToken, InfraError>;

    /// MUST return `TokenError::Expired` for a well-signed token past its expiry and
    /// `TokenError::Invalid` for anything else that is not a valid access token.
    fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<Principal, TokenError>;
}
