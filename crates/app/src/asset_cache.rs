//! The asset list, cached in process for a short time.
//!
//! Every order placement and every quote asks for its symbol's asset; the list changes only
//! when an admin halts or resumes a symbol. Without the cache that was one more database
//! transaction per order and per quote (`docs/benchmarks.md`). A halt set on this instance
//! applies here at once (its entry is dropped); other instances see it within `ttl`.

use async_trait::async_trait;
use brokerage_domain::market::{Asset, AssetStore, Symbol};
use brokerage_domain::{Clock, InfraError};
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// An asset (or its absence) and when it was read.
type Entry = (Option<Asset>, DateTime<Utc>);

pub(crate) struct CachedAssets {
    inner: Arc<dyn AssetStore>,
    clock: Arc<dyn Clock>,
    ttl: chrono::Duration,
    entries: Mutex<HashMap<Symbol, Entry>>,
}

impl CachedAssets {
    pub(crate) fn new(inner: Arc<dyn AssetStore>, clock: Arc<dyn Clock>, ttl: Duration) -> Self {
        let ttl = chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::zero());
        Self { inner, clock, ttl, entries: Mutex::new(HashMap::new()) }
    }

    fn cached(&self, symbol: &Symbol) -> Option<Option<Asset>> {
        let entries = self.entries.lock().ok()?;
        let (asset, at) = entries.get(symbol)?;
        (self.clock.now() - *at < self.ttl).then(|| asset.clone())
    }
}

#[async_trait]
impl AssetStore for CachedAssets {
    async fn get(&self, symbol: &Symbol) -> Result<Option<Asset>, InfraError> {
        if let Some(hit) = self.cached(symbol) {
            return Ok(hit);
        }
        let asset = self.inner.get(symbol).await?;
        if let Ok(mut entries) = self.entries.lock() {
            // Unknown symbols are cached too (a client asking for `ZZZZ` in a loop costs
            // nothing), but the map never grows past what the list and a bounded set hold.
            if entries.len() > 10_000 {
                entries.clear();
            }
            entries.insert(symbol.clone(), (asset.clone(), self.clock.now()));
        }
        Ok(asset)
    }

    async fn set_halted(&self, symbol: &Symbol, halted: bool) -> Result<bool, InfraError> {
        let changed = self.inner.set_halted(symbol, halted).await;
        if let Ok(mut entries) = self.entries.lock() {
            entries.remove(symbol);
        }
        changed
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used)]
    use super::*;
    use brokerage_domain::system::SystemClock;

    #[tokio::test]
    async fn reads_are_cached_and_a_halt_here_applies_at_once() {
        let store = Arc::new(brokerage_memory::MemoryAssets::seeded());
        let cached = CachedAssets::new(store.clone(), Arc::new(SystemClock), Duration::from_secs(60));
        let aapl = Symbol::parse("AAPL").expect("valid");
        assert!(!cached.get(&aapl).await.expect("read").expect("listed").halted);
        // Behind the cache's back (another instance): not seen until the entry expires.
        store.set_halted(&aapl, true).await.expect("halt");
        assert!(!cached.get(&aapl).await.expect("read").expect("listed").halted);
        // Through the cache (this instance): seen at once.
        cached.set_halted(&aapl, true).await.expect("halt");
        assert!(cached.get(&aapl).await.expect("read").expect("listed").halted);
        let none = CachedAssets::new(store, Arc::new(SystemClock), Duration::ZERO);
        assert!(none.get(&aapl).await.expect("read").expect("listed").halted);
    }
}
