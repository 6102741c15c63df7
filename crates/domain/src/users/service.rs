use super::models::{AccessToken, Email, Password, Role, User, UserStatus};
use super::ports::{CreateUserError, PasswordHasher, TokenError, TokenIssuer, UserChanges, UserStore};
use super::sessions::{NewSession, RefreshToken, Rotation, SessionStore};
use super::two_factor::TwoFactorStore;
use crate::accounts::Account;
use crate::crypto::{OneTimeCodes, SecretCipher, TokenDigests};
use crate::error::InfraError;
use crate::ids::{AccountId, SessionId, UserId};
use crate::limits::RateLimiter;
use crate::paging::{Page, PageRequest};
use crate::rbac::{Credential, Forbidden, Permission, Principal};
use crate::system::{Clock, IdGenerator};
use chrono::Duration;
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
    /// Unknown e-mail, wrong password, locked user, and a wrong or replayed one-time code
    /// look the same to the client.
    #[error("invalid credentials")]
    InvalidCredentials,
    /// The password was right and 2FA is on, but no one-time code came with it.
    #[error("a one-time code is required")]
    TotpRequired,
    /// Too many login attempts for this account; retry after this many seconds.
    #[error("too many login attempts")]
    Throttled { retry_after_secs: u64 },
    #[error(transparent)]
    Infra(#[from] InfraError),
}

#[derive(Debug, thiserror::Error)]
pub enum AuthenticateError {
    #[error("token expired")]
    Expired,
    #[error("not authenticated")]
    Invalid,
    #[error(transparent)]
    Infra(#[from] InfraError),
}

#[derive(Debug, thiserror::Error)]
pub enum ChangePasswordError {
    #[error("the current password is wrong")]
    InvalidCredentials,
    #[error(transparent)]
    Infra(#[from] InfraError),
}

#[derive(Debug, thiserror::Error)]
pub enum TwoFactorError {
    #[error("wrong, expired or already used one-time code")]
    InvalidCode,
    #[error("two-factor authentication is already enabled")]
    AlreadyEnabled,
    #[error(transparent)]
    Infra(#[from] InfraError),
}

/// What 2FA setup hands the user once.
#[derive(Debug, Clone)]
pub struct TotpSetup {
    pub secret: String,
    pub otpauth_uri: String,
}

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error(transparent)]
    Forbidden(#[from] Forbidden),
    #[error("no such user")]
    NotFound,
    #[error(transparent)]
    Infra(#[from] InfraError),
}

/// What a successful login or refresh hands the client.
#[derive(Debug, Clone)]
pub struct Tokens {
    pub access: AccessToken,
    pub refresh: RefreshToken,
}

/// Bytes of randomness in a refresh token's secret (256 bits).
const REFRESH_SECRET_BYTES: usize = 32;

/// Registration, login, sessions, token checks, and user administration.
#[derive(Clone)]
pub struct AuthService {
    users: Arc<dyn UserStore>,
    hasher: Arc<dyn PasswordHasher>,
    tokens: Arc<dyn TokenIssuer>,
    sessions: Arc<dyn SessionStore>,
    digests: Arc<dyn TokenDigests>,
    two_factor: Arc<dyn TwoFactorStore>,
    codes: Arc<dyn OneTimeCodes>,
    cipher: Arc<dyn SecretCipher>,
    limiter: Arc<dyn RateLimiter>,
    login_limit: LoginLimit,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGenerator>,
    /// Absolute lifetime of a session (default 7 days).
    session_ttl: Duration,
}

/// The ports [`AuthService`] needs.
pub struct AuthPorts {
    pub users: Arc<dyn UserStore>,
    pub hasher: Arc<dyn PasswordHasher>,
    pub tokens: Arc<dyn TokenIssuer>,
    pub sessions: Arc<dyn SessionStore>,
    pub digests: Arc<dyn TokenDigests>,
    pub two_factor: Arc<dyn TwoFactorStore>,
    pub codes: Arc<dyn OneTimeCodes>,
    pub cipher: Arc<dyn SecretCipher>,
    /// Counts login attempts per account (shared by every instance).
    pub limiter: Arc<dyn RateLimiter>,
    pub clock: Arc<dyn Clock>,
    pub ids: Arc<dyn IdGenerator>,
}

/// At most `attempts` logins per account per `window`, whatever their outcome, so guessing
/// one account's password is slow even from many addresses. Unknown e-mails are counted the
/// same way, so the limit reveals nothing about which accounts exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginLimit {
    pub attempts: u32,
    pub window: std::time::Duration,
}

impl Default for LoginLimit {
    fn default() -> Self {
        Self { attempts: 10, window: std::time::Duration::from_secs(15 * 60) }
    }
}

impl AuthService {
    pub fn new(ports: AuthPorts, session_ttl: Duration, login_limit: LoginLimit) -> Self {
        let AuthPorts { users, hasher, tokens, sessions, digests, two_factor, codes, cipher, limiter, clock, ids } =
            ports;
        Self {
            users,
            hasher,
            tokens,
            sessions,
            digests,
            two_factor,
            codes,
            cipher,
            limiter,
            login_limit,
            clock,
            ids,
            session_ttl,
        }
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

    /// Checks the password and opens a session. The password is always verified, against a
    /// dummy hash when the e-mail is unknown, so timing does not reveal accounts.
    #[tracing::instrument(skip_all)]
    pub async fn login(&self, email: &str, password: &str, totp_code: Option<&str>) -> Result<Tokens, LoginError> {
        // Counted before anything is checked; an unreachable counter refuses the login.
        let key = format!("login-attempts:{}", email.trim().to_lowercase());
        let decision = self.limiter.check(&key, self.login_limit.attempts, self.login_limit.window).await?;
        if !decision.allowed {
            return Err(LoginError::Throttled { retry_after_secs: decision.reset_after_secs() });
        }
        let creds = match Email::parse(email) {
            Ok(email) => self.users.credentials_by_email(&email).await?,
            Err(_) => None,
        };
        let matches = self.hasher.verify(password, creds.as_ref().map(|c| c.password_hash.clone())).await?;
        let creds = match creds {
            Some(c) if matches && c.user.status == UserStatus::Active => c,
            _ => return Err(LoginError::InvalidCredentials),
        };
        if creds.user.totp_enabled {
            let code = totp_code.ok_or(LoginError::TotpRequired)?;
            if !self.spend_code(creds.user.id, code, true).await? {
                return Err(LoginError::InvalidCredentials);
            }
        }
        let now = self.clock.now();
        let session_id = SessionId::from_uuid(self.ids.new_id());
        let refresh = self.new_refresh_token(creds.user.id, session_id);
        self.sessions
            .create(&NewSession {
                id: session_id,
                user_id: creds.user.id,
                refresh_digest: self.digests.digest(refresh.secret()),
                expires_at: now + self.session_ttl,
            })
            .await?;
        let principal = Principal {
            user_id: creds.user.id,
            account_id: creds.account_id,
            role: creds.user.role,
            credential: Credential::Session(session_id),
        };
        Ok(Tokens { access: self.tokens.issue(&principal, now)?, refresh })
    }

    /// Spends a refresh token for a new pair. Presenting a spent token revokes its session,
    /// so a stolen token dies the moment either party uses it after the other.
    #[tracing::instrument(skip_all)]
    pub async fn refresh(&self, raw: &str) -> Result<Tokens, AuthenticateError> {
        let presented = RefreshToken::parse(raw).ok_or(AuthenticateError::Invalid)?;
        let (user_id, session_id) = (presented.user_id, presented.session_id);
        let next = self.new_refresh_token(user_id, session_id);
        let rotation = self
            .sessions
            .rotate(user_id, session_id, &self.digests.digest(presented.secret()), &self.digests.digest(next.secret()))
            .await?;
        match rotation {
            Rotation::Rotated => {}
            Rotation::Reused => {
                tracing::warn!(user.id = %user_id, session.id = %session_id, "refresh token reused; session revoked");
                return Err(AuthenticateError::Invalid);
            }
            Rotation::Unknown => return Err(AuthenticateError::Invalid),
        }
        // The user may have been locked since the session began.
        let creds = match self.users.get(user_id).await? {
            Some(user) if user.status == UserStatus::Active => user,
            _ => {
                self.sessions.revoke(user_id, session_id).await?;
                return Err(AuthenticateError::Invalid);
            }
        };
        let account_id = self.account_of(&creds).await?;
        let principal =
            Principal { user_id, account_id, role: creds.role, credential: Credential::Session(session_id) };
        Ok(Tokens { access: self.tokens.issue(&principal, self.clock.now())?, refresh: next })
    }

    /// Ends the caller's session at once: its access and refresh tokens stop working on every
    /// instance.
    pub async fn logout(&self, who: &Principal) -> Result<(), InfraError> {
        match who.session() {
            Some(session) => self.sessions.revoke(who.user_id, session).await,
            None => Ok(()),
        }
    }

    /// The caller behind an access token, if its session is still live.
    pub async fn authenticate(&self, token: &str) -> Result<Principal, AuthenticateError> {
        let principal = self.tokens.verify(token, self.clock.now()).map_err(|e| match e {
            TokenError::Expired => AuthenticateError::Expired,
            TokenError::Invalid => AuthenticateError::Invalid,
        })?;
        let session = principal.session().ok_or(AuthenticateError::Invalid)?;
        if !self.sessions.is_active(principal.user_id, session).await? {
            return Err(AuthenticateError::Invalid);
        }
        Ok(principal)
    }

    /// The user an access token was issued to, from its signature and expiry alone (no
    /// session lookup, no I/O): how the rate limiter keys a request per user before the
    /// handler authenticates it fully. Never use it to authorise anything.
    pub fn token_user(&self, token: &str) -> Option<UserId> {
        self.tokens.verify(token, self.clock.now()).ok().map(|p| p.user_id)
    }

    /// Changes the caller's password and ends all its sessions (it logs in again).
    pub async fn change_password(
        &self,
        who: &Principal,
        current: &str,
        new: Password,
    ) -> Result<(), ChangePasswordError> {
        let user = self.users.get(who.user_id).await?.ok_or(ChangePasswordError::InvalidCredentials)?;
        let creds =
            self.users.credentials_by_email(&user.email).await?.ok_or(ChangePasswordError::InvalidCredentials)?;
        if !self.hasher.verify(current, Some(creds.password_hash)).await? {
            return Err(ChangePasswordError::InvalidCredentials);
        }
        let hash = self.hasher.hash(&new).await?;
        self.users.set_password(who.user_id, &hash).await?;
        self.sessions.revoke_all(who.user_id).await?;
        Ok(())
    }

    /// The caller's own profile. `None` if the user was deleted since the token was issued.
    pub async fn me(&self, who: &Principal) -> Result<Option<User>, InfraError> {
        self.users.get(who.user_id).await
    }

    /// Every user (support and admin).
    pub async fn list_users(
        &self,
        who: &Principal,
        page: &PageRequest<UserId>,
    ) -> Result<Page<User, UserId>, AdminError> {
        who.require(Permission::ReadAll)?;
        Ok(self.users.list(page).await?)
    }

    /// Changes a user's role or status (admin). Locking ends all the user's sessions.
    pub async fn update_user(&self, who: &Principal, id: UserId, changes: &UserChanges) -> Result<User, AdminError> {
        who.require(Permission::Administer)?;
        let user = self.users.update(id, changes).await?.ok_or(AdminError::NotFound)?;
        if changes.status == Some(UserStatus::Locked) || changes.role.is_some() {
            // A role change must not leave tokens carrying the old role alive either.
            self.sessions.revoke_all(id).await?;
        }
        tracing::info!(admin.id = %who.user_id, user.id = %id, "user updated");
        Ok(user)
    }

    /// Starts 2FA setup: a new secret, stored sealed and not yet enabled.
    pub async fn setup_totp(&self, who: &Principal) -> Result<TotpSetup, TwoFactorError> {
        let user = self.users.get(who.user_id).await?.ok_or(TwoFactorError::InvalidCode)?;
        let secret = self.codes.new_secret();
        if !self.two_factor.set_pending(who.user_id, &self.cipher.seal(&secret)?).await? {
            return Err(TwoFactorError::AlreadyEnabled);
        }
        Ok(TotpSetup {
            secret: self.codes.display_secret(&secret),
            otpauth_uri: self.codes.provisioning_uri(&secret, user.email.as_str()),
        })
    }

    /// Turns 2FA on with a code from the set-up secret.
    pub async fn enable_totp(&self, who: &Principal, code: &str) -> Result<(), TwoFactorError> {
        if !self.spend_code(who.user_id, code, false).await? {
            return Err(TwoFactorError::InvalidCode);
        }
        Ok(self.two_factor.set_enabled(who.user_id, true).await?)
    }

    /// Turns 2FA off; it takes a valid code, so a stolen session alone cannot remove it.
    pub async fn disable_totp(&self, who: &Principal, code: &str) -> Result<(), TwoFactorError> {
        if !self.spend_code(who.user_id, code, true).await? {
            return Err(TwoFactorError::InvalidCode);
        }
        Ok(self.two_factor.set_enabled(who.user_id, false).await?)
    }

    /// Whether `code` is a fresh, valid code of the user's secret (in the wanted enabled
    /// state). A matching code is spent at once, so it never works twice. A secret sealed by
    /// a retired key is sealed again with the current one.
    async fn spend_code(&self, user: UserId, code: &str, enabled: bool) -> Result<bool, InfraError> {
        let Some(state) = self.two_factor.totp(user).await?.filter(|s| s.enabled == enabled) else {
            return Ok(false);
        };
        let secret = self.cipher.open(&state.sealed_secret)?;
        let Some(step) = self.codes.matching_step(&secret, code, self.clock.now()) else {
            return Ok(false);
        };
        if !self.two_factor.use_step(user, step).await? {
            tracing::warn!(user.id = %user, "one-time code replayed");
            return Ok(false);
        }
        if self.cipher.is_stale(&state.sealed_secret) {
            self.two_factor.reseal(user, &self.cipher.seal(&secret)?).await?;
        }
        Ok(true)
    }

    fn new_refresh_token(&self, user: UserId, session: SessionId) -> RefreshToken {
        RefreshToken::new(user, session, self.digests.random_token(REFRESH_SECRET_BYTES))
    }

    async fn account_of(&self, user: &User) -> Result<AccountId, InfraError> {
        let creds = self.users.credentials_by_email(&user.email).await?;
        creds
            .map(|c| c.account_id)
            .ok_or_else(|| InfraError::Unknown(anyhow::anyhow!("user {} has no account", user.id)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::{MockOneTimeCodes, MockSecretCipher, MockTokenDigests};
    use crate::limits::{Decision, MockRateLimiter};
    use crate::system::{MockClock, MockIdGenerator};
    use crate::users::models::{Credentials, PasswordHash};
    use crate::users::ports::{MockPasswordHasher, MockTokenIssuer, MockUserStore};
    use crate::users::sessions::MockSessionStore;
    use crate::users::two_factor::MockTwoFactorStore;
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

    fn digests() -> Arc<MockTokenDigests> {
        let mut d = MockTokenDigests::new();
        d.expect_random_token().returning(|n| "r".repeat(n + 11));
        d.expect_digest().returning(|t| format!("sha({t})"));
        Arc::new(d)
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

    fn service(
        users: MockUserStore,
        hasher: MockPasswordHasher,
        tokens: MockTokenIssuer,
        sessions: MockSessionStore,
    ) -> AuthService {
        AuthService::new(
            AuthPorts {
                users: Arc::new(users),
                hasher: Arc::new(hasher),
                tokens: Arc::new(tokens),
                sessions: Arc::new(sessions),
                digests: digests(),
                two_factor: Arc::new(MockTwoFactorStore::new()),
                codes: Arc::new(MockOneTimeCodes::new()),
                cipher: Arc::new(MockSecretCipher::new()),
                limiter: Arc::new(allow_all()),
                clock: fixed_clock(),
                ids: ids(),
            },
            Duration::days(7),
            LoginLimit::default(),
        )
    }

    fn allow_all() -> MockRateLimiter {
        let mut limiter = MockRateLimiter::new();
        limiter.expect_check().returning(|_, limit, window| Ok(Decision::from_count(1, limit, window)));
        limiter
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
        let svc = service(users, hasher, MockTokenIssuer::new(), MockSessionStore::new());
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
        let svc = service(users, hasher, MockTokenIssuer::new(), MockSessionStore::new());
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
        let svc = service(users, hasher, MockTokenIssuer::new(), MockSessionStore::new());
        assert!(matches!(
            svc.login("nobody@example.com", "whatever password", None).await,
            Err(LoginError::InvalidCredentials)
        ));
    }

    #[tokio::test]
    async fn too_many_attempts_on_one_account_are_refused_before_the_password_is_checked() {
        let mut users = MockUserStore::new();
        users.expect_credentials_by_email().never();
        let mut hasher = MockPasswordHasher::new();
        hasher.expect_verify().never();
        let mut limiter = MockRateLimiter::new();
        limiter
            .expect_check()
            .withf(|key, limit, _| key == "login-attempts:ann@example.com" && *limit == 10)
            .returning(|_, limit, _| Ok(Decision::from_count(11, limit, std::time::Duration::from_secs(90))));
        let mut svc = service(users, hasher, MockTokenIssuer::new(), MockSessionStore::new());
        svc.limiter = Arc::new(limiter);
        let err = svc.login(" Ann@Example.com", "whatever", None).await;
        assert!(matches!(err, Err(LoginError::Throttled { retry_after_secs: 90 })), "{err:?}");
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
        let svc = service(users, hasher, MockTokenIssuer::new(), MockSessionStore::new());
        assert!(matches!(
            svc.login("ann@example.com", "a long passphrase", None).await,
            Err(LoginError::InvalidCredentials)
        ));
    }

    #[tokio::test]
    async fn a_good_login_opens_a_session_and_issues_tokens_bound_to_it() {
        let active = user(UserStatus::Active);
        let (user_id, account_id) = (active.id, AccountId::from_uuid(Uuid::now_v7()));
        let mut users = MockUserStore::new();
        users.expect_credentials_by_email().returning(move |_| {
            Ok(Some(Credentials { user: active.clone(), password_hash: PasswordHash::new("phc".into()), account_id }))
        });
        let mut hasher = MockPasswordHasher::new();
        hasher.expect_verify().returning(|_, _| Ok(true));
        let mut sessions = MockSessionStore::new();
        sessions
            .expect_create()
            .withf(move |s| {
                s.user_id == user_id
                    && s.refresh_digest.starts_with("sha(")
                    && s.expires_at.to_rfc3339().starts_with("2026-01-12")
            })
            .times(1)
            .returning(|_| Ok(()));
        let mut tokens = MockTokenIssuer::new();
        tokens
            .expect_issue()
            .withf(move |p, _| p.user_id == user_id && p.account_id == account_id && p.session().is_some())
            .returning(|_, _| Ok(AccessToken { token: "jwt".into(), expires_in_seconds: 900 }));
        let svc = service(users, hasher, tokens, sessions);
        let t = svc.login("ann@example.com", "a long passphrase", None).await.expect("logged in");
        assert_eq!(t.access.token, "jwt");
        assert_eq!(t.refresh.user_id, user_id);
    }

    #[tokio::test]
    async fn a_reused_refresh_token_is_refused() {
        let mut sessions = MockSessionStore::new();
        sessions.expect_rotate().returning(|_, _, _, _| Ok(Rotation::Reused));
        let svc = service(MockUserStore::new(), MockPasswordHasher::new(), MockTokenIssuer::new(), sessions);
        let raw =
            RefreshToken::new(UserId::from_uuid(Uuid::now_v7()), SessionId::from_uuid(Uuid::now_v7()), "x".repeat(43))
                .expose();
        assert!(matches!(svc.refresh(&raw).await, Err(AuthenticateError::Invalid)));
        assert!(matches!(svc.refresh("garbage").await, Err(AuthenticateError::Invalid)));
    }

    #[tokio::test]
    async fn an_access_token_of_an_ended_session_is_refused() {
        let principal = Principal {
            user_id: UserId::from_uuid(Uuid::now_v7()),
            account_id: AccountId::from_uuid(Uuid::now_v7()),
            role: Role::Customer,
            credential: Credential::Session(SessionId::from_uuid(Uuid::now_v7())),
        };
        let mut tokens = MockTokenIssuer::new();
        tokens.expect_verify().returning(move |_, _| Ok(principal));
        let mut sessions = MockSessionStore::new();
        sessions.expect_is_active().returning(|_, _| Ok(false));
        let svc = service(MockUserStore::new(), MockPasswordHasher::new(), tokens, sessions);
        assert!(matches!(svc.authenticate("jwt").await, Err(AuthenticateError::Invalid)));
    }

    #[tokio::test]
    async fn locking_a_user_ends_its_sessions_and_needs_an_admin() {
        let target = user(UserStatus::Locked);
        let id = target.id;
        let mut users = MockUserStore::new();
        users.expect_update().returning(move |_, _| Ok(Some(target.clone())));
        let mut sessions = MockSessionStore::new();
        sessions.expect_revoke_all().withf(move |u| *u == id).times(1).returning(|_| Ok(()));
        let svc = service(users, MockPasswordHasher::new(), MockTokenIssuer::new(), sessions);
        let admin = |role| Principal {
            user_id: UserId::from_uuid(Uuid::now_v7()),
            account_id: AccountId::from_uuid(Uuid::now_v7()),
            role,
            credential: Credential::Session(SessionId::from_uuid(Uuid::now_v7())),
        };
        let lock = UserChanges { role: None, status: Some(UserStatus::Locked) };
        assert!(matches!(svc.update_user(&admin(Role::Support), id, &lock).await, Err(AdminError::Forbidden(_))));
        svc.update_user(&admin(Role::Admin), id, &lock).await.expect("admin may lock");
    }
}
