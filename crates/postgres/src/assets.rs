//! `AssetStore`: the `assets` table (migration `2026-11-25-000002_assets`).

use crate::errors;
use crate::store::PgStore;
use async_trait::async_trait;
use brokerage_domain::InfraError;
use brokerage_domain::market::{Asset, AssetStore, Symbol};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

diesel::table! {
    assets (symbol) {
        symbol -> Text,
        name -> Text,
        tradable -> Bool,
        fractionable -> Bool,
        halted -> Bool,
    }
}

#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = assets)]
#[diesel(check_for_backend(diesel::pg::Pg))]
struct AssetRow {
    symbol: String,
    name: String,
    tradable: bool,
    fractionable: bool,
    halted: bool,
}

impl AssetRow {
    fn into_domain(self) -> Result<Asset, InfraError> {
        let symbol = Symbol::parse(&self.symbol)
            .map_err(|e| InfraError::Unknown(anyhow::anyhow!("assets row {:?}: symbol {e}", self.symbol)))?;
        Ok(Asset {
            symbol,
            name: self.name,
            tradable: self.tradable,
            fractionable: self.fractionable,
            halted: self.halted,
        })
    }
}

#[async_trait]
impl AssetStore for PgStore {
    #[tracing::instrument(skip_all, fields(db.system = "postgresql", db.operation = "assets.get", market.symbol = %symbol))]
    async fn get(&self, symbol: &Symbol) -> Result<Option<Asset>, InfraError> {
        let mut conn = self.conn().await?;
        let row = assets::table
            .find(symbol.as_str())
            .select(AssetRow::as_select())
            .first(&mut conn)
            .await
            .optional()
            .map_err(|e| errors::query(e, "read an asset"))?;
        row.map(AssetRow::into_domain).transpose()
    }

    #[tracing::instrument(skip_all, fields(db.system = "postgresql", db.operation = "assets.set_halted", market.symbol = %symbol))]
    async fn set_halted(&self, symbol: &Symbol, halted: bool) -> Result<bool, InfraError> {
        let mut conn = self.conn().await?;
        let updated = diesel::update(assets::table.find(symbol.as_str()))
            .set(assets::halted.eq(halted))
            .execute(&mut conn)
            .await
            .map_err(|e| errors::query(e, "halt or resume a symbol"))?;
        Ok(updated == 1)
    }
}
