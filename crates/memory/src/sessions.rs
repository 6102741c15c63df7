use async_trait::async_trait;
use brokerage_domain::users::{NewSession, Rotation, SessionStore};
use brokerage_domain::{Clock, InfraError, SessionId, UserId};
use chrono::{DateTime, Utc};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

struct Session {
    user_id: UserId,
    current: String,
    spent: HashSet<String>,
    expires_at: DateTime<Utc>,
}

/// Sessions in process memory (demo mode and tests): the same rules as the Redis adapter,
/// for one instance only.
#[derive(Clone)]
pub struct MemorySessions {
    sessions: Arc<Mutex<HashMap<SessionId, Session>>>,
    clock: Arc<dyn Clock>,
}

impl MemorySessions {
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self { sessions: Arc::default(), clock }
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, HashMap<SessionId, Session>>, InfraError> {
        self.sessions.lock().map_err(|_| InfraError::Unknown(anyhow::anyhow!("session lock poisoned")))
    }
}

#[async_trait]
impl SessionStore for MemorySessions {
    async fn create(&self, session: &NewSession) -> Result<(), InfraError> {
        self.lock()?.insert(
            session.id,
            Session {
                user_id: session.user_id,
                current: session.refresh_digest.clone(),
                spent: HashSet::new(),
                expires_at: session.expires_at,
            },
        );
        Ok(())
    }

    async fn rotate(&self, user: UserId, id: SessionId, presented: &str, next: &str) -> Result<Rotation, InfraError> {
        let now = self.clock.now();
        let mut sessions = self.lock()?;
        let Some(session) = sessions.get_mut(&id).filter(|s| s.user_id == user && s.expires_at > now) else {
            return Ok(Rotation::Unknown);
        };
        if session.current == presented {
            session.spent.insert(std::mem::replace(&mut session.current, next.to_owned()));
            Ok(Rotation::Rotated)
        } else if session.spent.contains(presented) {
            sessions.remove(&id);
            Ok(Rotation::Reused)
        } else {
            Ok(Rotation::Unknown)
        }
    }

    async fn is_active(&self, user: UserId, id: SessionId) -> Result<bool, InfraError> {
        let now = self.clock.now();
        Ok(self.lock()?.get(&id).is_some_and(|s| s.user_id == user && s.expires_at > now))
    }

    async fn revoke(&self, user: UserId, id: SessionId) -> Result<(), InfraError> {
        let mut sessions = self.lock()?;
        if sessions.get(&id).is_some_and(|s| s.user_id == user) {
            sessions.remove(&id);
        }
        Ok(())
    }

    async fn revoke_all(&self, user: UserId) -> Result<(), InfraError> {
        self.lock()?.retain(|_, s| s.user_id != user);
        Ok(())
    }
}
