use crate::ids::{AccountId, UserId};
use chrono::{DateTime, Utc};
use std::fmt;
use std::sync::LazyLock;

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

/// A new password that meets the policy (OWASP ASVS V2.1: 12 to 128 characters, not a
/// commonly used password). Its `Debug` never shows the value.
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
    /// On the deny list of passwords seen most often in breaches (ASVS 2.1.7).
    #[error("is too common")]
    Common,
}

/// Common passwords of 12 to 128 characters, one per line, lower-case and sorted by bytes;
/// `#` lines (the source and licence) are skipped. See the file's header.
const COMMON_PASSWORDS_FILE: &str = include_str!("common_passwords.txt");

/// The deny list as a sorted slice, split once on first use (no copy of the text).
static COMMON_PASSWORDS: LazyLock<Vec<&'static str>> =
    LazyLock::new(|| COMMON_PASSWORDS_FILE.lines().filter(|line| !line.is_empty() && !line.starts_with('#')).collect());

/// Whether `password` is on the deny list, ignoring case.
fn is_common(password: &str) -> bool {
    let lower = password.to_lowercase();
    COMMON_PASSWORDS.binary_search(&lower.as_str()).is_ok()
}

impl Password {
    pub fn new(raw: String) -> Result<Self, WeakPassword> {
        let chars = raw.chars().count();
        if chars < PASSWORD_MIN_CHARS {
            Err(WeakPassword::TooShort)
        } else if chars > PASSWORD_MAX_CHARS {
            Err(WeakPassword::TooLong)
        } else if is_common(&raw) {
            Err(WeakPassword::Common)
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
    fn the_common_password_list_is_sorted_unique_lower_case_and_in_policy() {
        assert!(COMMON_PASSWORDS.len() >= 1000, "{} entries", COMMON_PASSWORDS.len());
        assert!(COMMON_PASSWORDS.windows(2).all(|w| w[0] < w[1]), "sorted by bytes, no duplicates");
        for entry in COMMON_PASSWORDS.iter() {
            assert_eq!(entry.to_lowercase(), *entry, "lower-case");
            assert_eq!(entry.trim(), *entry, "no surrounding whitespace");
            assert!((PASSWORD_MIN_CHARS..=PASSWORD_MAX_CHARS).contains(&entry.chars().count()), "{entry:?}");
        }
        assert!(COMMON_PASSWORDS_FILE.starts_with("# "), "the source and licence head the file");
    }

    #[test]
    fn common_passwords_are_refused_whatever_their_case() {
        for common in ["qwerty123456", "QWERTY123456", "1qaz2wsx3edc", "Password1234", "123456789012"] {
            assert_eq!(Password::new(common.into()), Err(WeakPassword::Common), "{common:?}");
        }
        assert_eq!(WeakPassword::Common.to_string(), "is too common");
        assert!(Password::new("qwerty123456 but longer".into()).is_ok(), "only exact matches");
        // The length rules come first.
        assert_eq!(Password::new("password".into()), Err(WeakPassword::TooShort));
    }

    #[test]
    fn secrets_do_not_leak_through_debug() {
        let p = Password::new("correct horse battery".into()).expect("valid");
        assert!(!format!("{p:?}").contains("horse"));
        assert!(!format!("{:?}", PasswordHash::new("$argon2id$secret".into())).contains("secret"));
    }
}
