//! API keys.

use super::FieldErrors;
use crate::errors::ApiError;
use brokerage_domain::ApiScopes;
use brokerage_domain::api_keys::{ApiKey, CreatedApiKey};
use chrono::{DateTime, Utc};
use garde::Validate;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// `POST /api-keys`.
#[derive(Debug, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKeyRequest {
    /// Printable text: control characters (NUL, CR, LF, ...) are refused.
    #[garde(length(chars, min = 1, max = 100))]
    #[schema(min_length = 1, max_length = 100, pattern = r"^[^\u0000-\u001F\u007F-\u009F]+$")]
    pub name: String,
    #[garde(length(min = 1, max = 3))]
    #[schema(value_type = Vec<crate::openapi::schemas::ApiKeyScope>, min_items = 1, max_items = 3)]
    pub scopes: Vec<String>,
}

impl CreateApiKeyRequest {
    pub fn try_into_domain(self) -> Result<(String, ApiScopes), ApiError> {
        let mut errors = FieldErrors::validate(&self);
        // PostgreSQL text cannot hold NUL, and no name needs a control character.
        if self.name.chars().any(char::is_control) {
            errors.check::<(), _>("name", Err("must not contain control characters"));
        }
        let scopes = errors.check(
            "scopes",
            ApiScopes::parse(self.scopes.iter().map(String::as_str)).ok_or("each scope must be read, trade or funds"),
        );
        errors.finish(scopes.map(|s| (self.name, s)))
    }
}

/// A key as listed: never its secret.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ApiKeyResponse {
    pub id: Uuid,
    pub name: String,
    #[schema(value_type = Vec<crate::openapi::schemas::ApiKeyScope>)]
    pub scopes: Vec<&'static str>,
    pub key_id: String,
    pub created_at: DateTime<Utc>,
}

impl From<ApiKey> for ApiKeyResponse {
    fn from(k: ApiKey) -> Self {
        Self { id: k.id.into(), name: k.name, scopes: k.scopes.names(), key_id: k.key_id, created_at: k.created_at }
    }
}

/// A new key with its secret, shown this once. No `Debug`: it holds the secret.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(description = "A new key with its `secret`, shown this once")]
pub struct CreatedApiKeyResponse {
    #[serde(flatten)]
    pub key: ApiKeyResponse,
    pub secret: String,
}

impl From<CreatedApiKey> for CreatedApiKeyResponse {
    fn from(c: CreatedApiKey) -> Self {
        Self { key: c.key.into(), secret: c.secret }
    }
}
