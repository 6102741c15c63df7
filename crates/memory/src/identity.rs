//! Second factor, API keys and nonces in memory (demo mode and tests).

use crate::state::MemoryStore;
use async_trait::async_trait;
use brokerage_domain::api_keys::{ApiKey, ApiKeyStore, NonceStore};
use brokerage_domain::users::{TotpState, TwoFactorStore};
use brokerage_domain::{ApiKeyId, Clock, InfraError, Page, PageRequest, UserId};
use chrono::{DateTime, Duration, Utc};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

#[async_trait]
impl TwoFactorStore for MemoryStore {
    async fn totp(&self, user: UserId) -> Result<Option<TotpState>, InfraError> {
        let s = self.lock()?;
        let enabled = s.users.get(&user).is_some_and(|(u, _)| u.totp_enabled);
        let sealed = s.totp.get(&user).and_then(|(sealed, _)| sealed.clone());
        Ok(sealed.map(|sealed_secret| TotpState { sealed_secret, enabled }))
    }

    async fn set_pending(&self, user: UserId, sealed_secret: &str) -> Result<bool, InfraError> {
        let mut s = self.lock()?;
        if s.users.get(&user).is_none_or(|(u, _)| u.totp_enabled) {
            return Ok(false);
        }
        s.totp.entry(user).or_default().0 = Some(sealed_secret.to_owned());
        Ok(true)
    }

    async fn set_enabled(&self, user: UserId, enabled: bool) -> Result<(), InfraError> {
        let mut s = self.lock()?;
        if let Some((u, _)) = s.users.get_mut(&user) {
            u.totp_enabled = enabled;
        }
        if !enabled {
            s.totp.entry(user).or_default().0 = None;
        }
        Ok(())
    }

    async fn reseal(&self, user: UserId, sealed_secret: &str) -> Result<(), InfraError> {
        self.lock()?.totp.entry(user).or_default().0 = Some(sealed_secret.to_owned());
        Ok(())
    }

    async fn use_step(&self, user: UserId, step: i64) -> Result<bool, InfraError> {
        let mut s = self.lock()?;
        let last = &mut s.totp.entry(user).or_default().1;
        if last.is_some_and(|l| l >= step) {
            return Ok(false);
        }
        *last = Some(step);
        Ok(true)
    }
}

#[async_trait]
impl ApiKeyStore for MemoryStore {
    async fn create(&self, key: &ApiKey, sealed_secret: &str) -> Result<(), InfraError> {
        self.lock()?.api_keys.insert(key.id, (key.clone(), sealed_secret.to_owned(), false));
        Ok(())
    }

    async fn list(&self, user: UserId, page: &PageRequest<ApiKeyId>) -> Result<Page<ApiKey, ApiKeyId>, InfraError> {
        let s = self.lock()?;
        let items = s
            .api_keys
            .values()
            .filter(|(k, _, revoked)| k.user_id == user && !revoked)
            .filter(|(k, _, _)| page.after.is_none_or(|after| k.id > after))
            .take(page.fetch_limit())
            .map(|(k, _, _)| k.clone())
            .collect();
        Ok(page.into_page(items, |k| k.id))
    }

    async fn revoke(&self, user: UserId, id: ApiKeyId, _at: DateTime<Utc>) -> Result<bool, InfraError> {
        let mut s = self.lock()?;
        match s.api_keys.get_mut(&id) {
            Some((k, _, revoked)) if k.user_id == user && !*revoked => {
                *revoked = true;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn find_live(&self, key_id: &str) -> Result<Option<(ApiKey, String)>, InfraError> {
        let s = self.lock()?;
        Ok(s.api_keys
            .values()
            .find(|(k, _, revoked)| k.key_id == key_id && !revoked)
            .map(|(k, sealed, _)| (k.clone(), sealed.clone())))
    }

    async fn reseal(&self, id: ApiKeyId, sealed_secret: &str) -> Result<(), InfraError> {
        if let Some((_, sealed, _)) = self.lock()?.api_keys.get_mut(&id) {
            *sealed = sealed_secret.to_owned();
        }
        Ok(())
    }
}

/// Nonces in process memory, forgotten after their time to live.
#[derive(Clone)]
pub struct MemoryNonces {
    seen: Arc<Mutex<HashMap<String, DateTime<Utc>>>>,
    clock: Arc<dyn Clock>,
}

impl MemoryNonces {
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self { seen: Arc::default(), clock }
    }
}

#[async_trait]
impl NonceStore for MemoryNonces {
    async fn first_use(&self, nonce: &str, ttl_seconds: u64) -> Result<bool, InfraError> {
        let now = self.clock.now();
        let mut seen = self.seen.lock().map_err(|_| InfraError::Unknown(anyhow::anyhow!("nonce lock poisoned")))?;
        seen.retain(|_, expires| *expires > now);
        if seen.contains_key(nonce) {
            return Ok(false);
        }
        seen.insert(nonce.to_owned(), now + Duration::seconds(i64::try_from(ttl_seconds).unwrap_or(i64::MAX / 2)));
        Ok(true)
    }
}
