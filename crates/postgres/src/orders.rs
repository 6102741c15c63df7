//! `OrderStore`: placing, canceling and replacing orders with their holds, atomically;
//! reading them.
//!
//! The money rules are the domain's `booking` functions, run on rows locked inside one
//! transaction; SQL only loads, locks and writes back (see `crate::booking`).

use crate::booking::{self as write_booking, lock_book, lock_order, stored_order, unchanged_stand_in};
use crate::errors::{self, ORDERS_CLIENT_ORDER_ID_KEY, TxError};
use crate::ledger::fetch_limit;
use crate::request_keys::{self, Keyed};
use crate::rows::OrderRow;
use crate::schema::orders;
use crate::short_tx::ShortTx;
use crate::store::PgStore;
use async_trait::async_trait;
use brokerage_domain::orders::booking;
use brokerage_domain::orders::{
    AfterPlace, CancelStoreError, ClientOrderId, Order, OrderFilter, OrderStatus, OrderStore, ReplaceStoreError,
    StatusFilter, StoreOrderError,
};
use brokerage_domain::{AccountId, InfraError, Money, OrderId, Page, PageRequest};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use uuid::Uuid;

/// Statuses of open orders, as stored (`new`, `partially_filled`).
fn open_statuses() -> Vec<&'static str> {
    OrderStatus::ALL.iter().filter(|s| s.is_open()).map(|s| s.as_str()).collect()
}

fn load_one(row: Option<OrderRow>) -> Result<Option<Order>, InfraError> {
    row.map(OrderRow::into_domain).transpose()
}

fn duplicate_client_id(e: &diesel::result::Error) -> bool {
    errors::is_unique_violation(e, ORDERS_CLIENT_ORDER_ID_KEY)
}

#[async_trait]
impl OrderStore for PgStore {
    #[tracing::instrument(
        skip_all,
        fields(db.system = "postgresql", db.operation = "place_order", account.id = %order.account_id, order.id = %order.id)
    )]
    async fn place(&self, order: &Order, hold: Money, after: &AfterPlace) -> Result<Order, StoreOrderError> {
        let mut conn = self.conn().await?;
        let placed = async {
            // Locking the account row serialises every order and cash movement of the account,
            // so concurrent orders never spend the same buying power twice. The position's row
            // only when placing can change it (a resting buy changes cash alone).
            let needs_position = booking::placing_changes_position(order, after);
            let (tx, (account, position)) = ShortTx::begin(&mut conn, async |c| {
                lock_book(c, order.account_id, &order.symbol, needs_position).await
            })
            .await?;
            let Some(account) = account else {
                return tx.fail(TxError::Port(StoreOrderError::AccountNotFound)).await;
            };
            if let Some(key) = &order.request_key
                && let Some(Keyed::Order(id)) = request_keys::find(tx.conn(), order.account_id, key).await?
            {
                let first =
                    orders::table.find(Uuid::from(id)).select(OrderRow::as_select()).first(&mut tx.conn()).await;
                // The order the key placed, or why it could not be read: either way, nothing new.
                let answer = match first.map_err(TxError::from).and_then(|r| r.into_domain().map_err(TxError::port)) {
                    Ok(first) => TxError::Port(StoreOrderError::AlreadyPlaced(Box::new(first))),
                    Err(e) => e,
                };
                return tx.fail(answer).await;
            }
            let booking = match booking::place(order.clone(), account, position, hold, after) {
                Ok(booking) => booking,
                Err(rejected) => return tx.fail(TxError::port(rejected)).await,
            };
            if !needs_position && let Err(e) = unchanged_stand_in(&booking) {
                return tx.fail(TxError::port(e)).await;
            }
            let stored = tx
                .commit(async |c| {
                    let record = async {
                        let Some(key) = &order.request_key else { return Ok(()) };
                        let placed = Keyed::Order(order.id);
                        request_keys::record(c, order.account_id, key, placed, order.submitted_at).await
                    };
                    // After a failed statement the rest fail with "transaction aborted": the
                    // booking's error is the cause.
                    let (stored, recorded) = tokio::join!(biased; write_booking::write(c, &booking), record);
                    let stored = stored?;
                    recorded?;
                    Ok(stored)
                })
                .await?;
            stored_order(stored, order.id)
        };
        placed.await.map_err(|e: TxError<StoreOrderError>| {
            e.resolve("place order", |e| duplicate_client_id(e).then_some(StoreOrderError::DuplicateClientOrderId))
        })
    }

    #[tracing::instrument(skip_all, fields(db.system = "postgresql", db.operation = "cancel_order", account.id = %account, order.id = %id))]
    async fn cancel(&self, account: AccountId, id: OrderId, at: DateTime<Utc>) -> Result<Order, CancelStoreError> {
        let mut conn = self.conn().await?;
        let canceled = async {
            let not_found = || TxError::Port(CancelStoreError::NotFound);
            // Lock order: the order, then its account, then its position (as the engine).
            let (tx, order) = ShortTx::begin(&mut conn, async |c| lock_order(c, id, account).await).await?;
            let Some(order) = order else { return tx.fail(not_found()).await };
            let (acct, position) = lock_book(tx.conn(), account, &order.symbol, true).await?;
            let Some(acct) = acct else { return tx.fail(not_found()).await };
            let booking = match booking::cancel(order, acct, position, at) {
                Ok(booking) => booking,
                Err(rejected) => return tx.fail(TxError::port(rejected)).await,
            };
            let stored = tx.commit(async |c| Ok(write_booking::write(c, &booking).await?)).await?;
            stored_order(stored, id)
        };
        canceled.await.map_err(|e: TxError<CancelStoreError>| e.resolve("cancel order", |_| None))
    }

    #[tracing::instrument(
        skip_all,
        fields(db.system = "postgresql", db.operation = "replace_order", account.id = %account, order.id = %old, order.new_id = %new.id)
    )]
    async fn replace(
        &self,
        account: AccountId,
        old: OrderId,
        new: &Order,
        hold: Money,
        after: &AfterPlace,
    ) -> Result<Order, ReplaceStoreError> {
        let mut conn = self.conn().await?;
        let replaced = async {
            let not_found = || TxError::Port(ReplaceStoreError::NotFound);
            let (tx, old) = ShortTx::begin(&mut conn, async |c| lock_order(c, old, account).await).await?;
            let Some(old) = old else { return tx.fail(not_found()).await };
            let (acct, position) = lock_book(tx.conn(), account, &old.symbol, true).await?;
            let Some(acct) = acct else { return tx.fail(not_found()).await };
            let booking = match booking::replace(old, new.clone(), acct, position, hold, after) {
                Ok(booking) => booking,
                Err(rejected) => return tx.fail(TxError::port(rejected)).await,
            };
            let stored = tx.commit(async |c| Ok(write_booking::write(c, &booking).await?)).await?;
            stored_order(stored, new.id)
        };
        replaced.await.map_err(|e: TxError<ReplaceStoreError>| {
            e.resolve("replace order", |e| duplicate_client_id(e).then_some(ReplaceStoreError::DuplicateClientOrderId))
        })
    }

    #[tracing::instrument(skip_all, fields(db.system = "postgresql", db.operation = "get_order", order.id = %id))]
    async fn get(&self, id: OrderId) -> Result<Option<Order>, InfraError> {
        let mut conn = self.conn().await?;
        let row = orders::table
            .find(Uuid::from(id))
            .select(OrderRow::as_select())
            .first(&mut conn)
            .await
            .optional()
            .map_err(|e| errors::query(e, "load order"))?;
        load_one(row)
    }

    #[tracing::instrument(skip_all, fields(db.system = "postgresql", db.operation = "get_order_by_client_id", account.id = %account))]
    async fn get_by_client_id(
        &self,
        account: AccountId,
        client_order_id: &ClientOrderId,
    ) -> Result<Option<Order>, InfraError> {
        let mut conn = self.conn().await?;
        let row = orders::table
            .filter(orders::account_id.eq(Uuid::from(account)))
            .filter(orders::client_order_id.eq(client_order_id.as_str()))
            .select(OrderRow::as_select())
            .first(&mut conn)
            .await
            .optional()
            .map_err(|e| errors::query(e, "load order by client id"))?;
        load_one(row)
    }

    #[tracing::instrument(skip_all, fields(db.system = "postgresql", db.operation = "list_orders"))]
    async fn list(
        &self,
        account: Option<AccountId>,
        filter: &OrderFilter,
        page: &PageRequest<OrderId>,
    ) -> Result<Page<Order, OrderId>, InfraError> {
        // Newest first: ids are UUID v7, so id order is time order; per account this is the
        // (account_id, id DESC) index.
        let mut query =
            orders::table.select(OrderRow::as_select()).order(orders::id.desc()).limit(fetch_limit(page)).into_boxed();
        if let Some(account) = account {
            query = query.filter(orders::account_id.eq(Uuid::from(account)));
        }
        if let Some(after) = page.after {
            query = query.filter(orders::id.lt(Uuid::from(after)));
        }
        query = match filter.status {
            StatusFilter::Open => query.filter(orders::status.eq_any(open_statuses())),
            StatusFilter::Closed => query.filter(orders::status.ne_all(open_statuses())),
            StatusFilter::All => query,
        };
        if let Some(symbol) = &filter.symbol {
            query = query.filter(orders::symbol.eq(symbol.as_str().to_owned()));
        }
        let mut conn = self.conn().await?;
        let rows = query.load(&mut conn).await.map_err(|e| errors::query(e, "list orders"))?;
        let items = rows.into_iter().map(OrderRow::into_domain).collect::<Result<Vec<_>, _>>()?;
        Ok(page.into_page(items, |o| o.id))
    }
}
