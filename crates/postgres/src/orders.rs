//! `OrderStore`: placing and canceling orders with their holds, atomically; reading them.
//!
//! The money rules are the domain's `settlement` functions, run on rows locked inside one
//! transaction; SQL only loads, locks and writes back.

use crate::accounts::{lock_account, save_balances};
use crate::errors::{self, ORDERS_CLIENT_ORDER_ID_KEY, TxError};
use crate::ledger::fetch_limit;
use crate::positions::{lock_position, save_position};
use crate::rows::{ActivityRow, OrderRow};
use crate::schema::{activities, orders};
use crate::store::PgStore;
use async_trait::async_trait;
use brokerage_domain::orders::settlement;
use brokerage_domain::orders::{
    AfterPlace, CancelStoreError, ClientOrderId, Order, OrderFilter, OrderStatus, OrderStore, StatusFilter,
    StoreOrderError,
};
use brokerage_domain::{AccountId, InfraError, Money, OrderId, Page, PageRequest};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection as _, RunQueryDsl};
use uuid::Uuid;

/// Statuses of open orders, as stored (`new`, `partially_filled`).
fn open_statuses() -> Vec<&'static str> {
    OrderStatus::ALL.iter().filter(|s| s.is_open()).map(|s| s.as_str()).collect()
}

fn load_one(row: Option<OrderRow>) -> Result<Option<Order>, InfraError> {
    row.map(OrderRow::into_domain).transpose()
}

#[async_trait]
impl OrderStore for PgStore {
    #[tracing::instrument(
        skip_all,
        fields(db.system = "postgresql", db.operation = "place_order", account.id = %order.account_id, order.id = %order.id)
    )]
    async fn place(&self, order: &Order, hold: Money, after: &AfterPlace) -> Result<Order, StoreOrderError> {
        let mut conn = self.conn().await?;
        conn.transaction(async |c| -> Result<Order, TxError<StoreOrderError>> {
            // Locking the account row serialises every order and cash movement of the account,
            // so concurrent orders never spend the same buying power twice.
            let mut account =
                lock_account(c, order.account_id).await?.ok_or(TxError::Port(StoreOrderError::AccountNotFound))?;
            let mut position = lock_position(c, order.account_id, &order.symbol).await?;
            let (account_before, position_before) = (account.clone(), position.clone());

            let mut order = order.clone();
            settlement::reserve(&mut order, &mut account, &mut position, hold).map_err(TxError::port)?;
            let activity = match after {
                AfterPlace::Fill(fill) => {
                    Some(settlement::fill(&mut order, &mut account, &mut position, fill).map_err(TxError::port)?)
                }
                AfterPlace::Cancel(at) => {
                    settlement::release(&mut order, &mut account, &mut position, OrderStatus::Canceled, *at)
                        .map_err(TxError::port)?;
                    None
                }
                AfterPlace::Rest => None,
            };

            // Settlement ran in memory on the locked rows, so the order is inserted once, in
            // its final state; the fill activity, which references it, follows. RETURNING
            // hands back the order as stored (timestamps at Postgres' microsecond precision).
            let stored = diesel::insert_into(orders::table)
                .values(OrderRow::from(&order))
                .returning(OrderRow::as_returning())
                .get_result(c)
                .await?;
            if let Some(activity) = &activity {
                diesel::insert_into(activities::table).values(ActivityRow::from(activity)).execute(c).await?;
            }
            if account != account_before {
                save_balances(c, &account).await?;
            }
            if position != position_before {
                save_position(c, &position, order.updated_at).await?;
            }
            stored.into_domain().map_err(TxError::port)
        })
        .await
        .map_err(|e| {
            e.resolve("place order", |e| {
                errors::is_unique_violation(e, ORDERS_CLIENT_ORDER_ID_KEY)
                    .then_some(StoreOrderError::DuplicateClientOrderId)
            })
        })
    }

    #[tracing::instrument(skip_all, fields(db.system = "postgresql", db.operation = "cancel_order", account.id = %account, order.id = %id))]
    async fn cancel(&self, account: AccountId, id: OrderId, at: DateTime<Utc>) -> Result<Order, CancelStoreError> {
        let mut conn = self.conn().await?;
        conn.transaction(async |c| -> Result<Order, TxError<CancelStoreError>> {
            let not_found = || TxError::Port(CancelStoreError::NotFound);
            // Locks are taken account → order → position, the same order as `place`, so two
            // transactions of one account can never wait on each other in a cycle.
            let mut acct = lock_account(c, account).await?.ok_or_else(not_found)?;
            let row = orders::table
                .filter(orders::id.eq(Uuid::from(id)))
                .filter(orders::account_id.eq(Uuid::from(account)))
                .select(OrderRow::as_select())
                .for_update()
                .first(c)
                .await
                .optional()?;
            let mut order = load_one(row).map_err(TxError::port)?.ok_or_else(not_found)?;
            let mut position = lock_position(c, account, &order.symbol).await?;
            let (account_before, position_before) = (acct.clone(), position.clone());

            settlement::release(&mut order, &mut acct, &mut position, OrderStatus::Canceled, at)
                .map_err(TxError::port)?;

            let stored = diesel::update(orders::table.find(Uuid::from(id)))
                .set(&OrderRow::from(&order))
                .returning(OrderRow::as_returning())
                .get_result(c)
                .await?;
            if acct != account_before {
                save_balances(c, &acct).await?;
            }
            if position != position_before {
                save_position(c, &position, at).await?;
            }
            stored.into_domain().map_err(TxError::port)
        })
        .await
        .map_err(|e| e.resolve("cancel order", |_| None))
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
