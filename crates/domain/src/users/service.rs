use super::models::{AccessToken, Email, Password, Role, User, UserStatus};
use super::ports::{CreateUserError, PasswordHasher, TokenError, TokenIssuer, UserStore};
use crate::accounts::Account;
use crate::error::InfraError;
use crate::ids::{AccountId, UserId};
use crate::rbac::Principal;
use crate::system::{Clock, IdGenerator};
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    #[error("e-mail already registered")]
    EmailTaken,
    #[error(transparent)]
    Infra(#[from] InfraError),
}

#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// Unknown e-mail, wrong password and locked user look the same to the client.
    #[error("invalid credentials")]
    InvalidCredentials,
    #[error(transparent)]
    Infra(#[from] InfraError),
}

#[derive(Debug, thiserror::Error)]
pub enum AuthenticateError {
    #[error("token expired")]
    Expired,
    #[error("not authenticated")]
    Invalid,
}

/// Registration, login and token checks.
#[derive(Clone)]
pub struct AuthService {
    users: Arc<dyn UserStore>,
    hasher: Arc<dyn PasswordHasher>,
    tokens: Arc<dyn TokenIssuer>,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGenerator>,
}

impl AuthService {
    pub fn new(
        users: Arc<dyn UserStore>,
        hasher: Arc<dyn PasswordHasher>,
        tokens: Arc<dyn TokenIssuer>,
        clock: Arc<dyn Clock>,
        ids: Arc<dyn IdGenerator>,
    ) -> Self {
        Self { users, hasher, tokens, clock, ids }
    }

    /// Creates a customer and its empty USD account.
    #[tracing::instrument(skip_all)]
    pub async fn register(&self, email: Email, password: Password) -> Result<User, RegisterError> {
        self.register_with_role(email, password, Role::Customer).await
    }

    /// Registration with an explicit role; only start-up commands (`create-admin`) use it.
    pub async fn register_with_role(
        &self,
        email: Email,
        password: Password,
        role: Role,
    ) -> Result<User, RegisterError> {
        let now = self.clock.now();
        let hash = self.hasher.hash(&password).await?;
        let user = User {
            id: UserId::from_uuid(self.ids.new_id()),
            email,
            role,
            status: UserStatus::Active,
            totp_enabled: false,
            created_at: now,
        };
        let account = Account::open(AccountId::from_uuid(self.ids.new_id()), user.id, now);
        match self.users.create_with_account(&user, &hash, &account).await {
            Ok(()) => Ok(user),
            Err(CreateUserError::EmailTaken) => Err(RegisterError::EmailTaken),
            Err(CreateUserError::Infra(e)) => Err(e.into()),
        }
    }

    /// Checks the password and issues an access token. The password is always verified,
    /// against a dummy hash when the e-mail is unknown, so timing does not reveal accounts.
    #[tracing::instrument(skip_all)]
    pub async fn login(&self, email: &str, password: &str) -> Result<AccessToken, LoginError> {
        let creds = match Email::parse(email) {
            Ok(email) => self.users.credentials_by_email(&email).await?,
            Err(_) => None,
        };
        let matches = self.hasher.verify(password, creds.as_ref().map(|c| c.password_hash.clone())).await?;
        let creds = match creds {
            Some(c) if matches && c.user.status == UserStatus::Active => c,
            _ => return Err(LoginError::InvalidCredentials),
        };
        let principal = Principal { user_id: creds.user.id, account_id: creds.account_id, role: creds.user.role };
        Ok(self.tokens.issue(&principal, self.clock.now())?)
    }

    /// The caller behind an access token.
    pub fn authenticate(&self, token: &str) -> Result<Principal, AuthenticateError> {
        self.tokens.verify(token, self.clock.now()).map_err(|e| match e {
            TokenError::Expired => AuthenticateError::Expired,
            TokenError::Invalid => AuthenticateError::Invalid,
        })
    }

    /// The caller's own profile. `None` if the user was deleted since the token was issued.
    pub async fn me(&self, who: &Principal) -> Result<Option<User>, InfraError> {
        self.users.get(who.user_id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::system::{MockClock, MockIdGenerator};
    use crate::users::models::{Credentials, PasswordHash};
    use crate::users::ports::{MockPasswordHasher, MockTokenIssuer, MockUserStore};
    use chrono::{TimeZone, Utc};
    use uuid::Uuid;

    fn fixed_clock() -> Arc<MockClock> {
        let mut clock = MockClock::new();
        clock.expect_now().returning(|| Utc.with_ymd_and_hms(2026, 1, 5, 15, 0, 0).single().expect("valid date"));
        Arc::new(clock)
    }

    fn ids() -> Arc<MockIdGenerator> {
        let mut ids = MockIdGenerator::new();
        ids.expect_new_id().returning(Uuid::now_v7);
        Arc::new(ids)
    }

    fn user(status: UserStatus) -> User {
        User {
            id: UserId::from_uuid(Uuid::now_v7()),
            email: Email::parse("ann@example.com").expect("valid"),
            role: Role::Customer,
            status,
            totp_enabled: false,
            created_at: Utc::now(),
        }
    }

    fn service(users: MockUserStore, hasher: MockPasswordHasher, tokens: MockTokenIssuer) -> AuthService {
        AuthService::new(Arc::new(users), Arc::new(hasher), Arc::new(tokens), fixed_clock(), ids())
    }

    #[tokio::test]
    async fn register_creates_an_active_customer_with_an_empty_account() {
        let mut users = MockUserStore::new();
        users
            .expect_create_with_account()
            .withf(|u, h, a| {
                u.role == Role::Customer
                    && u.status == UserStatus::Active
                    && h.as_str() == "phc"
                    && a.user_id == u.id
                    && a.cash.get().is_zero()
            })
            .times(1)
            .returning(|_, _, _| Ok(()));
        let mut hasher = MockPasswordHasher::new();
        hasher.expect_hash().returning(|_| Ok(PasswordHash::new("phc".into())));
        let svc = service(users, hasher, MockTokenIssuer::new());
        let user = svc
            .register(
                Email::parse("Ann@Example.com").expect("valid"),
                Password::new("a long passphrase".into()).expect("valid"),
            )
            .await
            .expect("registered");
        assert_eq!(user.email.as_str(), "ann@example.com");
    }

    #[tokio::test]
    async fn register_reports_a_taken_email() {
        let mut users = MockUserStore::new();
        users.expect_create_with_account().returning(|_, _, _| Err(CreateUserError::EmailTaken));
        let mut hasher = MockPasswordHasher::new();
        hasher.expect_hash().returning(|_| Ok(PasswordHash::new("phc".into())));
        let svc = service(users, hasher, MockTokenIssuer::new());
        let err = svc
            .register(
                Email::parse("ann@example.com").expect("valid"),
                Password::new("a long passphrase".into()).expect("valid"),
            )
            .await;
        assert!(matches!(err, Err(RegisterError::EmailTaken)));
    }

    #[tokio::test]
    async fn unknown_email_still_runs_the_hash_and_fails_like_a_wrong_password() {
        let mut users = MockUserStore::new();
        users.expect_credentials_by_email().returning(|_| Ok(None));
        let mut hasher = MockPasswordHasher::new();
        hasher.expect_verify().withf(|_, hash| hash.is_none()).times(1).returning(|_, _| Ok(false));
        let svc = service(users, hasher, MockTokenIssuer::new());
        assert!(matches!(
            svc.login("nobody@example.com", "whatever password").await,
            Err(LoginError::InvalidCredentials)
        ));
    }

    #[tokio::test]
    async fn a_locked_user_cannot_log_in_even_with_the_right_password() {
        let mut users = MockUserStore::new();
        let locked = user(UserStatus::Locked);
        users.expect_credentials_by_email().returning(move |_| {
            Ok(Some(Credentials {
                user: locked.clone(),
                password_hash: PasswordHash::new("phc".into()),
                account_id: AccountId::from_uuid(Uuid::now_v7()),
            }))
        });
        let mut hasher = MockPasswordHasher::new();
        hasher.expect_verify().returning(|_, _| Ok(true));
        let svc = service(users, hasher, MockTokenIssuer::new());
        assert!(matches!(svc.login("ann@example.com", "a long passphrase").await, Err(LoginError::InvalidCredentials)));
    }

    #[tokio::test]
    async fn a_good_login_issues_a_token_for_the_users_account() {
        let active = user(UserStatus::Active);
        let account_id = AccountId::from_uuid(Uuid::now_v7());
        let expected = Principal { user_id: active.id, account_id, role: Role::Customer };
        let mut users = MockUserStore::new();
        users.expect_credentials_by_email().returning(move |_| {
            Ok(Some(Credentials { user: active.clone(), password_hash: PasswordHash::new("phc".into()), account_id }))
        });
        let mut hasher = MockPasswordHasher::new();
        hasher.expect_verify().returning(|_, _| Ok(true));
        let mut tokens = MockTokenIssuer::new();
        tokens
            .expect_issue()
            .withf(move |p, _| *p == expected)
            .returning(|_, _| Ok(AccessToken { token: "jwt".into(), expires_in_seconds: 900 }));
        let svc = service(users, hasher, tokens);
        assert_eq!(svc.login("ann@example.com", "a long passphrase").await.expect("logged in").token, "jwt");
    }
}
