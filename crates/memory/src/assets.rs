//! [`AssetStore`] over the seed list the domain ships ([`ASSET_LIST`]), the same rows the
//! Postgres migration inserts.

use async_trait::async_trait;
use brokerage_domain::InfraError;
use brokerage_domain::market::{ASSET_LIST, Asset, AssetStore, Symbol};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

/// The asset list in memory. Cheap to clone.
#[derive(Clone)]
pub struct MemoryAssets {
    assets: Arc<HashMap<Symbol, Asset>>,
    halted: Arc<Mutex<HashSet<Symbol>>>,
}

impl MemoryAssets {
    /// The seed list.
    pub fn seeded() -> Self {
        Self::with(ASSET_LIST.iter().filter_map(|listing| listing.to_asset().ok()))
    }

    /// Exactly these assets (tests).
    pub fn with(assets: impl IntoIterator<Item = Asset>) -> Self {
        Self { assets: Arc::new(assets.into_iter().map(|a| (a.symbol.clone(), a)).collect()), halted: Arc::default() }
    }
}

impl Default for MemoryAssets {
    fn default() -> Self {
        Self::seeded()
    }
}

#[async_trait]
impl AssetStore for MemoryAssets {
    async fn get(&self, symbol: &Symbol) -> Result<Option<Asset>, InfraError> {
        let halted = self.halted_set()?.contains(symbol);
        Ok(self.assets.get(symbol).cloned().map(|a| Asset { halted, ..a }))
    }

    async fn set_halted(&self, symbol: &Symbol, halted: bool) -> Result<bool, InfraError> {
        if !self.assets.contains_key(symbol) {
            return Ok(false);
        }
        let mut set = self.halted_set()?;
        if halted {
            set.insert(symbol.clone());
        } else {
            set.remove(symbol);
        }
        Ok(true)
    }
}

impl MemoryAssets {
    fn halted_set(&self) -> Result<std::sync::MutexGuard<'_, HashSet<Symbol>>, InfraError> {
        self.halted.lock().map_err(|_| InfraError::Unknown(anyhow::anyhow!("asset halts lock poisoned")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_seed_list_is_loaded_whole() {
        let assets = MemoryAssets::seeded();
        assert_eq!(assets.assets.len(), ASSET_LIST.len());
        let brk = assets.get(&Symbol::parse("brk.b").expect("valid")).await.expect("infallible").expect("listed");
        assert!(brk.tradable && brk.fractionable);
        let twtr = assets.get(&Symbol::parse("TWTR").expect("valid")).await.expect("infallible").expect("listed");
        assert!(!twtr.tradable);
        assert_eq!(assets.get(&Symbol::parse("ZZZZ").expect("valid")).await.expect("infallible"), None);
    }
}
