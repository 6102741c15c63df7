//! Login sessions: a refresh-token family that rotates on every use, and the access tokens
//! issued from it, all ending together.

use crate::error::InfraError;
use crate::ids::{SessionId, UserId};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::fmt;
use uuid::Uuid;

/// A refresh token as the client holds it: `<user>.<session>.<secret>`. Only a digest of the
/// secret is stored; the ids let the store find the session without a global index.
#[derive(Clone, PartialEq, Eq)]
pub struct RefreshToken {
    pub user_id: UserId,
    pub session_id: SessionId,
    secret: String,
}

impl RefreshToken {
    pub fn new(user_id: UserId, session_id: SessionId, secret: String) -> Self {
        Self { user_id, session_id, secret }
    }

    /// `None` for anything that is not a well-formed refresh token.
    pub fn parse(raw: &str) -> Option<Self> {
        let mut parts = raw.split('.');
        let (user, session, secret) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || secret.len() < 32 || secret.len() > 128 {
            return None;
        }
        let user_id = UserId::from_uuid(Uuid::try_parse(user).ok()?);
        let session_id = SessionId::from_uuid(Uuid::try_parse(session).ok()?);
        Some(Self { user_id, session_id, secret: secret.to_owned() })
    }

    pub fn secret(&self) -> &str {
        &self.secret
    }

    /// The string handed to the client.
    pub fn expose(&self) -> String {
        format!("{}.{}.{}", self.user_id.as_uuid().simple(), self.session_id.as_uuid().simple(), self.secret)
    }
}

impl fmt::Debug for RefreshToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RefreshToken").field("session_id", &self.session_id).finish_non_exhaustive()
    }
}

/// A session to store at login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSession {
    pub id: SessionId,
    pub user_id: UserId,
    /// Digest of the first refresh token's secret.
    pub refresh_digest: String,
    /// Absolute end of the session, whatever the refreshes.
    pub expires_at: DateTime<Utc>,
}

/// What presenting a refresh token did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rotation {
    /// It was the current token: it is now spent and `next` is current.
    Rotated,
    /// It was spent already: someone replayed it, so the whole session was revoked.
    Reused,
    /// No live session has ever issued it.
    Unknown,
}

#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait SessionStore: Send + Sync {
    async fn create(&self, session: &NewSession) -> Result<(), InfraError>;

    /// In ONE atomic step shared by every instance: when `presented` is the session's current
    /// refresh digest, record it as spent and make `next` current (`Rotated`); when it is a
    /// spent digest of that session, revoke the session (`Reused`); otherwise (unknown digest,
    /// expired or revoked session) change nothing (`Unknown`).
    async fn rotate(
        &self,
        user: UserId,
        session: SessionId,
        presented: &str,
        next: &str,
    ) -> Result<Rotation, InfraError>;

    /// Whether the session is live (not revoked, not past its absolute expiry).
    async fn is_active(&self, user: UserId, session: SessionId) -> Result<bool, InfraError>;

    async fn revoke(&self, user: UserId, session: SessionId) -> Result<(), InfraError>;

    /// Ends every session of the user (lock, password change).
    async fn revoke_all(&self, user: UserId) -> Result<(), InfraError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_tokens_round_trip_and_reject_garbage() {
        let t =
            RefreshToken::new(UserId::from_uuid(Uuid::now_v7()), SessionId::from_uuid(Uuid::now_v7()), "s".repeat(43));
        assert_eq!(RefreshToken::parse(&t.expose()), Some(t.clone()));
        for bad in ["", "a.b.c", "x", &format!("{}.extra", t.expose()), &t.expose()[..t.expose().len() - 20]] {
            assert_eq!(RefreshToken::parse(bad), None, "{bad:?}");
        }
        assert!(!format!("{t:?}").contains(&"s".repeat(43)));
    }
}
