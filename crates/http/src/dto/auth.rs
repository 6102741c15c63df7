//! Registration, login, tokens and the user.

use super::FieldErrors;
use crate::errors::ApiError;
use brokerage_domain::users::{AccessToken, Email, Password, User};
use chrono::{DateTime, Utc};
use garde::Validate;
use serde::{Deserialize, Serialize};
use std::fmt;
use uuid::Uuid;

/// `POST /auth/register`. The password policy is OWASP ASVS V2.1: 12 to 128 characters.
#[derive(Deserialize, Validate)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    #[garde(email, length(max = 254))]
    pub email: String,
    #[garde(length(chars, min = 12, max = 128))]
    pub password: String,
}

impl RegisterRequest {
    pub fn try_into_domain(self) -> Result<(Email, Password), ApiError> {
        let mut errors = FieldErrors::validate(&self);
        let email = errors.check("email", Email::parse(&self.email));
        let password = errors.check("password", Password::new(self.password));
        errors.finish(email.zip(password))
    }
}

impl fmt::Debug for RegisterRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegisterRequest").field("email", &self.email).finish_non_exhaustive()
    }
}

/// `POST /auth/login`. No policy beyond a size cap, so passwords set under older rules still
/// work; everything else fails as `invalid_credentials`.
#[derive(Deserialize, Validate)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    #[garde(length(max = 1024))]
    pub email: String,
    #[garde(length(max = 1024))]
    pub password: String,
}

impl LoginRequest {
    /// `(email, password)` as typed: the login use case parses them itself so that a malformed
    /// e-mail fails exactly like a wrong password.
    pub fn try_into_domain(self) -> Result<(String, String), ApiError> {
        FieldErrors::validate(&self).finish(Some((self.email, self.password)))
    }
}

impl fmt::Debug for LoginRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoginRequest").field("email", &self.email).finish_non_exhaustive()
    }
}

/// `{"access_token", "token_type": "Bearer", "expires_in"}`. No `Debug`: it holds a secret.
#[derive(Serialize)]
pub struct TokensResponse {
    pub access_token: String,
    pub token_type: &'static str,
    /// Seconds.
    pub expires_in: u64,
}

impl From<AccessToken> for TokensResponse {
    fn from(t: AccessToken) -> Self {
        Self { access_token: t.token, token_type: "Bearer", expires_in: t.expires_in_seconds }
    }
}

#[derive(Debug, Serialize)]
pub struct UserResponse {
    pub id: Uuid,
    pub email: String,
    pub role: &'static str,
    pub status: &'static str,
    pub totp_enabled: bool,
    pub created_at: DateTime<Utc>,
}

impl From<User> for UserResponse {
    fn from(u: User) -> Self {
        Self {
            id: u.id.into(),
            email: u.email.to_string(),
            role: u.role.as_str(),
            status: u.status.as_str(),
            totp_enabled: u.totp_enabled,
            created_at: u.created_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn register(email: &str, password: &str) -> Result<(Email, Password), ApiError> {
        RegisterRequest { email: email.into(), password: password.into() }.try_into_domain()
    }

    fn fields(err: ApiError) -> Vec<String> {
        err.details().iter().map(|d| d.field.clone()).collect()
    }

    #[test]
    fn registration_checks_the_email_and_the_password_length_in_characters() {
        let (email, _) = register("Ann@Example.com", "ééééééééééé€").expect("valid");
        assert_eq!(email.as_str(), "ann@example.com");
        let err = register("not-an-email", "short").expect_err("invalid");
        assert!(fields(err.clone()).contains(&"email".to_owned()), "{err:?}");
        assert!(fields(err).contains(&"password".to_owned()));
        assert!(register("ann@example.com", &"x".repeat(129)).is_err());
    }

    #[test]
    fn role_cannot_be_smuggled_into_registration() {
        let err = serde_json::from_str::<RegisterRequest>(
            r#"{"email": "ann@example.com", "password": "a long passphrase", "role": "admin"}"#,
        );
        assert!(err.is_err());
    }

    #[test]
    fn passwords_stay_out_of_debug_output() {
        let req = LoginRequest { email: "ann@example.com".into(), password: "hunter2-secret".into() };
        assert!(!format!("{req:?}").contains("hunter2"));
    }
}
