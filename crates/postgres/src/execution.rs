//! `ExecutionStore`: the execution engine's view of the open book, and one engine step on
//! one order, atomically.
//!
//! Every instance runs an engine over the same book. `execute` locks the order with
//! `FOR UPDATE SKIP LOCKED`: an order another worker (or a cancel, or a replace) is holding
//! is skipped at once instead of waited for, so the workers spread over the book and an
//! order is worked by one of them at a time. Locks are then taken account → position, after
//! the order, as `cancel` and `replace` do. Fills are keyed `(order_id, seq)`, so a fill can
//! never be booked twice even if two steps ever raced.

use crate::booking::{lock_book, write};
use crate::errors::{self, TxError};
use crate::rows::OrderRow;
use crate::schema::orders;
use crate::statements::{EngineCandidates, OpenSymbols};
use crate::store::PgStore;
use async_trait::async_trait;
use brokerage_domain::market::Symbol;
use brokerage_domain::orders::{Booking, Candidates, ExecutionStore, Order, Tick, booking};
use brokerage_domain::{InfraError, OrderId};
use diesel::prelude::*;
use diesel_async::{AsyncConnection as _, RunQueryDsl};
use uuid::Uuid;

fn infra(e: impl std::error::Error + Send + Sync + 'static, context: &'static str) -> InfraError {
    InfraError::Unknown(anyhow::Error::new(e).context(context))
}

#[async_trait]
impl ExecutionStore for PgStore {
    #[tracing::instrument(skip_all, fields(db.system = "postgresql", db.operation = "open_symbols"))]
    async fn open_symbols(&self) -> Result<Vec<Symbol>, InfraError> {
        let mut conn = self.conn().await?;
        let symbols: Vec<String> =
            OpenSymbols.load(&mut conn).await.map_err(|e| errors::query(e, "list open symbols"))?;
        symbols
            .iter()
            .map(|s| {
                Symbol::parse(s)
                    .map_err(|e| InfraError::Unknown(anyhow::anyhow!("orders hold an invalid symbol {s:?}: {e}")))
            })
            .collect()
    }

    #[tracing::instrument(skip_all, fields(db.system = "postgresql", db.operation = "open_orders", order.symbol = %symbol))]
    async fn open_orders(
        &self,
        symbol: &Symbol,
        candidates: &Candidates,
        after: Option<OrderId>,
        limit: usize,
    ) -> Result<Vec<Order>, InfraError> {
        let query = EngineCandidates::new(symbol.as_str(), candidates, after.map(Uuid::from), limit);
        let mut conn = self.conn().await?;
        let rows = query.load(&mut conn).await.map_err(|e| errors::query(e, "list open orders"))?;
        rows.into_iter().map(OrderRow::into_domain).collect()
    }

    #[tracing::instrument(skip_all, fields(db.system = "postgresql", db.operation = "execute_order", order.id = %id))]
    async fn execute(&self, id: OrderId, tick: &Tick) -> Result<Option<Booking>, InfraError> {
        let mut conn = self.conn().await?;
        conn.transaction(async |c| -> Result<Option<Booking>, TxError<InfraError>> {
            let row = orders::table
                .find(Uuid::from(id))
                .select(OrderRow::as_select())
                .for_update()
                .skip_locked()
                .first(c)
                .await
                .optional()?;
            // Held by another worker (or gone): never wait.
            let Some(row) = row else { return Ok(None) };
            let order = row.into_domain().map_err(TxError::Port)?;
            let (account, position) = lock_book(c, order.account_id, &order.symbol, true).await?;
            let account = account.ok_or_else(|| {
                TxError::Port(InfraError::Unknown(anyhow::anyhow!("order {id} belongs to no account")))
            })?;
            let booking = booking::execute(order, account, position, tick)
                .map_err(|e| TxError::Port(infra(e, "execution refused by settlement")))?;
            if !booking.is_empty() {
                write(c, &booking).await?;
            }
            Ok(Some(booking))
        })
        .await
        .map_err(|e| e.resolve("execute order", |_| None))
    }
}
