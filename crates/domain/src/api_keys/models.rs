use crate::ids::{AccountId, ApiKeyId, UserId};
use crate::rbac::ApiScopes;
use chrono::{DateTime, Utc};

/// An API key as listed (never with its secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    pub id: ApiKeyId,
    pub user_id: UserId,
    pub account_id: AccountId,
    pub name: String,
    /// The public identifier programs send in `X-Api-Key`.
    pub key_id: String,
    pub scopes: ApiScopes,
    pub created_at: DateTime<Utc>,
}

/// A request signed with an API key, as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedRequest<'a> {
    pub key_id: &'a str,
    pub timestamp: &'a str,
    pub signature: &'a str,
    pub method: &'a str,
    pub path_and_query: &'a str,
    pub body: &'a [u8],
}

impl SignedRequest<'_> {
    /// What the client signed: `timestamp \n METHOD \n path_and_query \n body` (API.md).
    pub fn message(&self) -> Vec<u8> {
        let mut m = Vec::with_capacity(
            self.timestamp.len() + self.method.len() + self.path_and_query.len() + self.body.len() + 3,
        );
        for part in [self.timestamp.as_bytes(), self.method.as_bytes(), self.path_and_query.as_bytes()] {
            m.extend_from_slice(part);
            m.push(b'\n');
        }
        m.extend_from_slice(self.body);
        m
    }
}
