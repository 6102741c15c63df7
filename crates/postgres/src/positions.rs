//! `PositionStore`: shares held per symbol.

use crate::errors;
use crate::ledger::fetch_limit;
use crate::rows::{AccountRow, PositionRow};
use crate::schema::positions;
use crate::statements::AccountBook;
use crate::store::PgStore;
use async_trait::async_trait;
use brokerage_domain::accounts::Account;
use brokerage_domain::market::Symbol;
use brokerage_domain::positions::{Position, PositionStore};
use brokerage_domain::{AccountId, InfraError, Page, PageRequest};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use uuid::Uuid;

fn into_domain(rows: Vec<PositionRow>) -> Result<Vec<Position>, InfraError> {
    rows.into_iter().map(PositionRow::into_domain).collect()
}

#[async_trait]
impl PositionStore for PgStore {
    #[tracing::instrument(skip_all, fields(db.system = "postgresql", db.operation = "list_positions", account.id = %account))]
    async fn list(&self, account: AccountId, page: &PageRequest<Symbol>) -> Result<Page<Position, Symbol>, InfraError> {
        let mut query = positions::table
            .filter(positions::account_id.eq(Uuid::from(account)))
            .select(PositionRow::as_select())
            .order(positions::symbol.asc())
            .limit(fetch_limit(page))
            .into_boxed();
        if let Some(after) = &page.after {
            query = query.filter(positions::symbol.gt(after.as_str().to_owned()));
        }
        let mut conn = self.conn().await?;
        let rows = query.load(&mut conn).await.map_err(|e| errors::query(e, "list positions"))?;
        Ok(page.into_page(into_domain(rows)?, |p| p.symbol.clone()))
    }

    #[tracing::instrument(skip_all, fields(db.system = "postgresql", db.operation = "get_position", account.id = %account, position.symbol = %symbol))]
    async fn get(&self, account: AccountId, symbol: &Symbol) -> Result<Option<Position>, InfraError> {
        let mut conn = self.conn().await?;
        positions::table
            .find((Uuid::from(account), symbol.as_str()))
            .select(PositionRow::as_select())
            .first(&mut conn)
            .await
            .optional()
            .map_err(|e| errors::query(e, "load position"))?
            .map(PositionRow::into_domain)
            .transpose()
    }

    /// One statement: the account LEFT JOIN its positions (one row per position, or one row
    /// with no position), so both come from the same snapshot in one round trip.
    #[tracing::instrument(skip_all, fields(db.system = "postgresql", db.operation = "account_book", account.id = %account))]
    async fn book(&self, account: AccountId) -> Result<Option<(Account, Vec<Position>)>, InfraError> {
        let mut conn = self.conn().await?;
        let rows: Vec<(AccountRow, Option<PositionRow>)> = AccountBook { account: account.into() }
            .load(&mut conn)
            .await
            .map_err(|e| errors::query(e, "load account and positions"))?;
        let mut rows = rows.into_iter();
        let Some((account, first)) = rows.next() else { return Ok(None) };
        let positions = first.into_iter().chain(rows.filter_map(|(_, p)| p)).map(PositionRow::into_domain);
        let mut positions: Vec<Position> = positions.collect::<Result<_, _>>()?;
        // By symbol here, not in SQL: an ORDER BY put a sort node on every read (~5 % of
        // PostgreSQL's CPU for it, most accounts holding no position or a few).
        positions.sort_unstable_by(|a, b| a.symbol.as_str().cmp(b.symbol.as_str()));
        Ok(Some((account.into_domain()?, positions)))
    }
}
