//! Registration, login, tokens and the user.

use super::FieldErrors;
use crate::errors::ApiError;
use brokerage_domain::users::{Email, Password, Role, Tokens, TotpSetup, User, UserChanges, UserStatus};
use chrono::{DateTime, Utc};
use garde::Validate;
use serde::{Deserialize, Serialize};
use std::fmt;
use uuid::Uuid;

/// `POST /auth/register`. The password policy is OWASP ASVS V2.1: 12 to 128 characters.
#[derive(Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    #[garde(email, length(max = 254))]
    #[schema(format = Email, max_length = 254)]
    pub email: String,
    #[garde(length(chars, min = 12, max = 128))]
    #[schema(min_length = 12, max_length = 128)]
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
#[derive(Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    #[garde(length(chars, max = 1024))]
    #[schema(max_length = 1024)]
    pub email: String,
    #[garde(length(chars, max = 1024))]
    #[schema(max_length = 1024)]
    pub password: String,
    /// The current one-time code, once 2FA is enabled.
    #[garde(length(chars, max = 16))]
    #[schema(max_length = 16)]
    pub totp_code: Option<String>,
}

impl LoginRequest {
    /// `(email, password)` as typed: the login use case parses them itself so that a malformed
    /// e-mail fails exactly like a wrong password.
    pub fn try_into_domain(self) -> Result<(String, String, Option<String>), ApiError> {
        FieldErrors::validate(&self).finish(Some((self.email, self.password, self.totp_code)))
    }
}

impl fmt::Debug for LoginRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoginRequest").field("email", &self.email).finish_non_exhaustive()
    }
}

/// `{"access_token", "refresh_token", "token_type": "Bearer", "expires_in"}`. No `Debug`: it
/// holds secrets.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(description = "A session's tokens: send `Authorization: Bearer <access_token>`; refresh at `/auth/refresh`")]
pub struct TokensResponse {
    pub access_token: String,
    pub refresh_token: String,
    #[schema(example = "Bearer")]
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: u64,
}

impl From<Tokens> for TokensResponse {
    fn from(t: Tokens) -> Self {
        Self {
            access_token: t.access.token,
            refresh_token: t.refresh.expose(),
            token_type: "Bearer",
            expires_in: t.access.expires_in_seconds,
        }
    }
}

/// `POST /auth/refresh`.
#[derive(Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    #[garde(length(chars, max = 512))]
    #[schema(max_length = 512)]
    pub refresh_token: String,
}

impl RefreshRequest {
    pub fn try_into_domain(self) -> Result<String, ApiError> {
        FieldErrors::validate(&self).finish(Some(self.refresh_token))
    }
}

/// `POST /auth/password`: the new password meets the registration policy.
#[derive(Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordRequest {
    #[garde(length(max = 1024))]
    pub current_password: String,
    #[garde(length(chars, min = 12, max = 128))]
    pub new_password: String,
}

impl ChangePasswordRequest {
    pub fn try_into_domain(self) -> Result<(String, Password), ApiError> {
        let mut errors = FieldErrors::validate(&self);
        let new = errors.check("new_password", Password::new(self.new_password));
        errors.finish(new.map(|new| (self.current_password, new)))
    }
}

impl fmt::Debug for ChangePasswordRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ChangePasswordRequest(<redacted>)")
    }
}

/// `PATCH /admin/users/{id}`: only role and status can change.
#[derive(Debug, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUserRequest {
    #[garde(skip)]
    #[schema(value_type = Option<crate::openapi::schemas::UserRole>)]
    pub role: Option<String>,
    #[garde(skip)]
    #[schema(value_type = Option<crate::openapi::schemas::UserState>)]
    pub status: Option<String>,
}

impl UpdateUserRequest {
    pub fn try_into_domain(self) -> Result<UserChanges, ApiError> {
        let mut errors = FieldErrors::validate(&self);
        let role = errors.check_opt("role", self.role, |r| Role::parse(&r).ok_or("must be customer, support or admin"));
        let status =
            errors.check_opt("status", self.status, |s| UserStatus::parse(&s).ok_or("must be active or locked"));
        errors.finish(role.zip(status).map(|(role, status)| UserChanges { role, status }))
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UserResponse {
    pub id: Uuid,
    pub email: String,
    #[schema(value_type = crate::openapi::schemas::UserRole)]
    pub role: &'static str,
    #[schema(value_type = crate::openapi::schemas::UserState)]
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
        let req = LoginRequest { email: "ann@example.com".into(), password: "hunter2-secret".into(), totp_code: None };
        assert!(!format!("{req:?}").contains("hunter2"));
    }
}

/// `POST /auth/2fa/enable` and `/disable`.
#[derive(Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TotpCodeRequest {
    #[garde(length(min = 1, max = 16))]
    pub code: String,
}

impl TotpCodeRequest {
    pub fn try_into_domain(self) -> Result<String, ApiError> {
        FieldErrors::validate(&self).finish(Some(self.code))
    }
}

/// `POST /auth/2fa/setup`: shown once. No `Debug`: it holds the secret.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(description = "A new TOTP secret and its `otpauth://` URI, shown once")]
pub struct TotpSetupResponse {
    pub secret: String,
    pub otpauth_uri: String,
}

impl From<TotpSetup> for TotpSetupResponse {
    fn from(s: TotpSetup) -> Self {
        Self { secret: s.secret, otpauth_uri: s.otpauth_uri }
    }
}
