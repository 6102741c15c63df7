//! `PositionStore`: shares held per symbol.

use crate::errors::{self, TxError};
use crate::ledger::fetch_limit;
use crate::rows::PositionRow;
use crate::schema::positions;
use crate::store::PgStore;
use async_trait::async_trait;
use brokerage_domain::market::Symbol;
use brokerage_domain::positions::{Position, PositionStore};
use brokerage_domain::{AccountId, InfraError, Page, PageRequest};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::upsert::excluded;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

/// Loads the position and locks its row until the transaction ends; a symbol the account does
/// not hold is the empty position (there is no row to lock: the account lock, always taken
/// first, already excludes concurrent changes).
pub(crate) async fn lock_position<E>(
    c: &mut AsyncPgConnection,
    account: AccountId,
    symbol: &Symbol,
) -> Result<Position, TxError<E>>
where
    E: From<InfraError>,
{
    let row = positions::table
        .find((Uuid::from(account), symbol.as_str()))
        .select(PositionRow::as_select())
        .for_update()
        .first(c)
        .await
        .optional()?;
    match row {
        Some(row) => row.into_domain().map_err(TxError::port),
        None => Ok(Position::empty(account, symbol.clone())),
    }
}

/// Writes a position back: upserted while shares remain, deleted at zero.
pub(crate) async fn save_position(c: &mut AsyncPgConnection, p: &Position, at: DateTime<Utc>) -> QueryResult<()> {
    if p.qty.is_zero() {
        diesel::delete(positions::table.find((Uuid::from(p.account_id), p.symbol.as_str()))).execute(c).await?;
    } else {
        diesel::insert_into(positions::table)
            .values(PositionRow::new(p, at))
            .on_conflict((positions::account_id, positions::symbol))
            .do_update()
            .set((
                positions::qty.eq(excluded(positions::qty)),
                positions::held.eq(excluded(positions::held)),
                positions::cost_basis.eq(excluded(positions::cost_basis)),
                positions::updated_at.eq(excluded(positions::updated_at)),
            ))
            .execute(c)
            .await?;
    }
    Ok(())
}

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

    #[tracing::instrument(skip_all, fields(db.system = "postgresql", db.operation = "all_positions", account.id = %account))]
    async fn all(&self, account: AccountId) -> Result<Vec<Position>, InfraError> {
        let mut conn = self.conn().await?;
        let rows = positions::table
            .filter(positions::account_id.eq(Uuid::from(account)))
            .select(PositionRow::as_select())
            .order(positions::symbol.asc())
            .load(&mut conn)
            .await
            .map_err(|e| errors::query(e, "load positions"))?;
        into_domain(rows)
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
}
