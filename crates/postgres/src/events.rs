//! `EventStore`: the trade-update outbox, read per account in cursor order.
//!
//! Events are written by `crate::booking::write` with the change they report, numbered
//! under the account's lock, so a reader resuming after cursor N never misses one.

use crate::errors;
use crate::rows::{OrderRow, TradeEventRow, db_seq};
use crate::schema::{accounts, orders, trade_events};
use crate::store::PgStore;
use async_trait::async_trait;
use brokerage_domain::orders::{EventStore, TradeEvent};
use brokerage_domain::{AccountId, InfraError};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use uuid::Uuid;

#[async_trait]
impl EventStore for PgStore {
    #[tracing::instrument(skip_all, fields(db.system = "postgresql", db.operation = "events_after", account.id = %account))]
    async fn events_after(&self, account: AccountId, after: u64, limit: usize) -> Result<Vec<TradeEvent>, InfraError> {
        let mut conn = self.conn().await?;
        // The primary key (account_id, seq) serves the range; the order's fixed fields join in.
        let rows: Vec<(TradeEventRow, OrderRow)> = trade_events::table
            .inner_join(orders::table)
            .filter(trade_events::account_id.eq(Uuid::from(account)))
            .filter(trade_events::seq.gt(db_seq(after)))
            .order(trade_events::seq.asc())
            .limit(i64::try_from(limit).unwrap_or(i64::MAX))
            .select((TradeEventRow::as_select(), OrderRow::as_select()))
            .load(&mut conn)
            .await
            .map_err(|e| errors::query(e, "load trade events"))?;
        rows.into_iter().map(|(event, order)| event.into_domain(order)).collect()
    }

    #[tracing::instrument(skip_all, fields(db.system = "postgresql", db.operation = "last_event_seq", account.id = %account))]
    async fn last_event_seq(&self, account: AccountId) -> Result<u64, InfraError> {
        let mut conn = self.conn().await?;
        let seq: Option<i64> = accounts::table
            .find(Uuid::from(account))
            .select(accounts::event_seq)
            .first(&mut conn)
            .await
            .optional()
            .map_err(|e| errors::query(e, "load event cursor"))?;
        let seq = seq.unwrap_or(0);
        u64::try_from(seq)
            .map_err(|_| InfraError::Unknown(anyhow::anyhow!("account {account} has a negative event cursor {seq}")))
    }
}
