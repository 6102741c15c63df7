//! Writing a [`Booking`]: the one place where the rows a change of an account produces
//! (orders, balances, position and lots, activities with their journal postings, fills,
//! trade events) reach the database, inside the caller's transaction.
//!
//! This is the hot path of every order and every execution, so it is built for few round
//! trips: each table gets at most one statement (multi-row `INSERT`s over `unnest`ed
//! arrays, prepared once per connection: see `crate::statements`), and the statements
//! are *pipelined* on the connection (sent together, polled in order, executed by Postgres
//! one after the other in the order sent). The foreign keys between the rows of one booking
//! are `DEFERRABLE INITIALLY DEFERRED` (migration `000005`), so they are checked at `COMMIT`
//! and do not depend on statement order anyway.
//!
//! The rows are locked the same way everywhere: an existing order first (when the change is
//! about one), then the account, then the position ([`lock_book`] sends both in one
//! pipelined round trip, account first). Every transaction follows that order, so none can
//! wait on another in a cycle.

use crate::errors::TxError;
use crate::rows::{AccountRow, ActivityRow, FillRow, OrderRow, PositionRow, PostingRow, TradeEventRow, db_seq};
use crate::schema::{accounts, orders, positions};
use crate::statements::{
    InsertActivities, InsertEvents, InsertFills, InsertPostings, UpdateAccount, UpsertOrders, UpsertPosition,
};
use brokerage_domain::accounts::{Account, Activity};
use brokerage_domain::market::Symbol;
use brokerage_domain::orders::{Booking, Order};
use brokerage_domain::positions::Position;
use brokerage_domain::{AccountId, InfraError, OrderId};
use chrono::Utc;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use std::collections::HashSet;
use uuid::Uuid;

/// Locks the account row, then the position row, in one pipelined round trip. A symbol the
/// account does not hold is the empty position (no row to lock: the account lock, always
/// taken first, already excludes concurrent changes to it).
pub(crate) async fn lock_book<E>(
    c: &AsyncPgConnection,
    account: AccountId,
    symbol: &Symbol,
) -> Result<(Option<Account>, Position), TxError<E>>
where
    E: From<InfraError>,
{
    let (mut a, mut p) = (c, c);
    let account_row =
        accounts::table.find(Uuid::from(account)).select(AccountRow::as_select()).for_update().first(&mut a);
    let position_row = positions::table
        .find((Uuid::from(account), symbol.as_str()))
        .select(PositionRow::as_select())
        .for_update()
        .first(&mut p);
    // `biased`: polled (so sent) in this order, the lock order.
    let (account_row, position_row) = tokio::join!(biased; account_row, position_row);
    let found = account_row.optional()?.map(AccountRow::into_domain).transpose().map_err(TxError::port)?;
    let position = match position_row.optional()? {
        Some(row) => row.into_domain().map_err(TxError::port)?,
        None => Position::empty(account, symbol.clone()),
    };
    Ok((found, position))
}

/// Locks an order row (of `account` when given) and loads it.
pub(crate) async fn lock_order<E>(
    mut c: &AsyncPgConnection,
    id: OrderId,
    account: AccountId,
) -> Result<Option<Order>, TxError<E>>
where
    E: From<InfraError>,
{
    let row = orders::table
        .filter(orders::id.eq(Uuid::from(id)))
        .filter(orders::account_id.eq(Uuid::from(account)))
        .select(OrderRow::as_select())
        .for_update()
        .first(&mut c)
        .await
        .optional()?;
    row.map(OrderRow::into_domain).transpose().map_err(TxError::port)
}

/// The order `id` as `write` stored it (timestamps at Postgres' microsecond precision).
pub(crate) fn stored_order<E>(rows: Vec<OrderRow>, id: OrderId) -> Result<Order, TxError<E>>
where
    E: From<InfraError>,
{
    let id = Uuid::from(id);
    let row = rows.into_iter().find(|r| r.id == id).ok_or_else(|| {
        TxError::port(InfraError::Unknown(anyhow::anyhow!("order {id} was not among the rows the booking wrote")))
    })?;
    row.into_domain().map_err(TxError::port)
}

/// Inserts activities with their journal entries (as `INSERT`s that `write` pipelines).
async fn insert_activities(c: &AsyncPgConnection, rows: &[ActivityRow], postings: &[PostingRow]) -> QueryResult<()> {
    let (mut a, mut p) = (c, c);
    let activities = async {
        if rows.is_empty() {
            return Ok(0);
        }
        InsertActivities::from(rows).execute(&mut a).await
    };
    let postings = async {
        if postings.is_empty() {
            return Ok(0);
        }
        InsertPostings::from(postings).execute(&mut p).await
    };
    let (activities, postings) = tokio::join!(biased; activities, postings);
    activities?;
    postings?;
    Ok(())
}

fn update_account(a: &Account) -> UpdateAccount {
    UpdateAccount { id: a.id.into(), cash: a.cash.get(), held: a.held.get(), event_seq: db_seq(a.event_seq) }
}

/// Saves a deposit or withdrawal: the account's balances, the activity and its journal entry.
pub(crate) async fn write_cash_movement(
    c: &AsyncPgConnection,
    account: &Account,
    activity: &Activity,
) -> QueryResult<()> {
    let mut a = c;
    let rows = [ActivityRow::from(activity)];
    let postings: Vec<PostingRow> = PostingRow::entry(activity).collect();
    let balances = update_account(account).execute(&mut a);
    let (balances, inserted) = tokio::join!(biased; balances, insert_activities(c, &rows, &postings));
    balances?;
    inserted
}

/// Writes everything `b` says, in the caller's transaction, and returns the orders as stored.
pub(crate) async fn write(c: &AsyncPgConnection, b: &Booking) -> QueryResult<Vec<OrderRow>> {
    // One row per order, in its final state (a booking lists an order once, but the last
    // state wins if it ever listed one twice: one upsert may not touch a row twice).
    let mut seen = HashSet::with_capacity(b.orders.len());
    let mut order_rows: Vec<OrderRow> =
        b.orders.iter().rev().filter(|o| seen.insert(o.id)).map(OrderRow::from).collect();
    order_rows.reverse();
    let activity_rows: Vec<ActivityRow> = b.activities.iter().map(ActivityRow::from).collect();
    let posting_rows: Vec<PostingRow> = b.activities.iter().flat_map(PostingRow::entry).collect();
    let fill_rows: Vec<FillRow> = b.executions.iter().map(|e| FillRow::new(e, b.account.id)).collect();
    let event_rows: Vec<TradeEventRow> = b.events.iter().map(TradeEventRow::from).collect();
    let at = b.orders.last().map_or_else(Utc::now, |o| o.updated_at);

    let (mut co, mut ca, mut cp, mut cf, mut ce) = (c, c, c, c, c);
    let orders = async {
        if order_rows.is_empty() {
            return Ok(Vec::new());
        }
        UpsertOrders::from(&order_rows[..]).get_results(&mut co).await
    };
    let account = async {
        if !b.account_changed {
            return Ok(0);
        }
        update_account(&b.account).execute(&mut ca).await
    };
    let position = async {
        if !b.position_changed {
            return Ok(0);
        }
        let p = &b.position;
        if p.qty.is_zero() {
            return diesel::delete(positions::table.find((Uuid::from(p.account_id), p.symbol.as_str())))
                .execute(&mut cp)
                .await;
        }
        UpsertPosition::from(PositionRow::new(p, at)).execute(&mut cp).await
    };
    let fills = async {
        if fill_rows.is_empty() {
            return Ok(0);
        }
        InsertFills::from(&fill_rows[..]).execute(&mut cf).await
    };
    let events = async {
        if event_rows.is_empty() {
            return Ok(0);
        }
        InsertEvents::from(&event_rows[..]).execute(&mut ce).await
    };
    // Sent in this order; after a failed statement the rest of the pipeline fails with
    // "transaction aborted", so the first error in this order is the cause.
    let (orders, account, position, ledger, fills, events) = tokio::join!(
        biased;
        orders,
        account,
        position,
        insert_activities(c, &activity_rows, &posting_rows),
        fills,
        events
    );
    let orders = orders?;
    account?;
    position?;
    ledger?;
    fills?;
    events?;
    Ok(orders)
}
