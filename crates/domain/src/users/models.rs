use crate::ids::{AccountId, UserId};
use chrono::{DateTime, Utc};
use std::fmt;

/// A syntactically valid e-mail address, trimmed and lower-cased so that uniqueness holds
/// regardless of how the client typed it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("is not a valid e-mail address")]
pub struct InvalidEmail;

impl Email {
    pub fn parse(raw: &str) -> Result<Self, InvalidEmail> {
        let email = raw.trim().to_lowercase();
        let (local, domain) = email.split_once('@').ok_or(InvalidEmail)?;
        let ok = email.len() <= 254
            && !local.is_empty()
            && local.len() <= 64
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains('@')
            && !email.chars().any(|c| c.is_whitespace() || c.is_control());
        if ok { Ok(Self(email)) } else { Err(InvalidEmail) }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A new password that meets the policy (OWASP ASVS V2.1: 12 to 128 characters).
/// Its `Debug` never shows the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

pub const PASSWORD_MIN_CHARS: usize = 12;
pub const PASSWORD_MAX_CHARS: usize = 128;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WeakPassword {
    #[error("must be at least {PASSWORD_MIN_CHARS} characters")]
    TooShort,
    #[error("must be at most {PASSWORD_MAX_CHARS} characters")]
    TooLong,
}

impl Password {
    pub fn new(raw: String) -> Result<Self, WeakPassword> {
        let chars = raw.chars().count();
        if chars < PASSWORD_MIN_CHARS {
            Err(WeakPassword::TooShort)
        } else if chars > PASSWORD_MAX_CHARS {
            Err(WeakPassword::TooLong)
        } else {
            Ok(Self(raw))
        }
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// A password hash in PHC string format. Never leaves the server.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

impl PasswordHash {
    pub fn new(phc: String) -> Self {
        Self(phc)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash(<redacted>)")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    Customer,
    Support,
    Admin,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Customer, Role::Support, Role::Admin];

    pub const fn as_str(self) -> &'static str {
        match self {
            Role::Customer => "customer",
            Role::Support => "support",
            Role::Admin => "admin",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == raw)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserStatus {
    Active,
    Locked,
}

impl UserStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            UserStatus::Active => "active",
            UserStatus::Locked => "locked",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [UserStatus::Active, UserStatus::Locked].into_iter().find(|s| s.as_str() == raw)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub email: Email,
    pub role: Role,
    pub status: UserStatus,
    pub totp_enabled: bool,
    pub created_at: DateTime<Utc>,
}

/// What login needs to know about a user: the stored hash and the account it owns.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub user: User,
    pub password_hash: PasswordHash,
    pub account_id: AccountId,
}

/// An access token as handed to the client.
#[derive(Clone)]
pub struct AccessToken {
    pub token: String,
    pub expires_in_seconds: u64,
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken").field("expires_in_seconds", &self.expires_in_seconds).finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(Email::parse("  Ann@Example.COM ").map(|e| e.to_string()), Ok("ann@example.com".into()));
        for bad in [
            "",
            "ann",
            "@example.com",
            "ann@",
            "ann@example",
            "ann@.com",
            "a b@example.com",
            "a@b@c.com",
            "ann@example.com.",
        ] {
            assert_eq!(Email::parse(bad), Err(InvalidEmail), "{bad:?}");
        }
    }

    #[test]
    fn password_length_policy_counts_characters() {
        assert_eq!(Password::new("short".into()), Err(WeakPassword::TooShort));
        assert!(Password::new("ééééééééééé€".into()).is_ok());
        assert_eq!(Password::new("x".repeat(129)), Err(WeakPassword::TooLong));
    }

    #[test]
    fn secrets_do_not_leak_through_debug() {
        let p = Password::new("correct horse battery".into()).expect("valid");
        assert!(!format!("{p:?}").contains("horse"));
        assert!(!format!("{:?}", PasswordHash::new("$argon2id$secret".into())).contains("secret"));
    }
}
