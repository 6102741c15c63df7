//! Writing a [`Booking`]: the one place where the rows a change of an account produces
//! (orders, balances, position and lots, activities with their journal postings, fills,
//! trade events) reach the database, inside the caller's transaction.
//!
//! This is the hot path of every order and every execution, so it is built for few round
//! trips and few answers: the whole write is one statement (`statements::booking`), each
//! table written by one data-modifying CTE (one row as `VALUES`, several over `unnest`ed
//! arrays), prepared once per connection.
//!
//! The rows are locked the same way everywhere: an existing order first (when the change is
//! about one), then the account, then the position ([`lock_book`] sends both in one
//! pipelined round trip, account first). Every transaction follows that order, so none can
//! wait on another in a cycle.

use crate::accounts::lock_account;
use crate::errors::TxError;
use crate::rows::{ActivityRow, FillRow, OrderRow, PositionRow, PostingRow, TradeEventRow, db_seq};
use crate::schema::{orders, positions};
use crate::statements::booking::{
    DeletePosition, InsertActivities, InsertEvents, InsertFills, InsertPostings, PositionChange, UpdateAccount,
    UpsertOrders, UpsertPosition, WriteBooking,
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
///
/// Two statements, not one: under READ COMMITTED a statement reads with the snapshot it took
/// when it started, before it waited for the account lock, so one statement locking both rows
/// (tried in round 7 of `docs/benchmarks.md`) missed a position inserted by the transaction it
/// had waited for, and booked over it. The position's statement starts after the account lock
/// is granted (PostgreSQL runs pipelined statements in order) and sees every committed change.
///
/// With `lock_position` false (a change that cannot touch the position, such as a buy that
/// rests: `booking::placing_changes_position`) only the account is locked, and the position
/// is the empty stand-in, which the caller must not let a booking change
/// ([`unchanged_stand_in`]).
pub(crate) async fn lock_book<E>(
    c: &AsyncPgConnection,
    account: AccountId,
    symbol: &Symbol,
    lock_position: bool,
) -> Result<(Option<Account>, Position), TxError<E>>
where
    E: From<InfraError>,
{
    if !lock_position {
        return Ok((lock_account(c, account).await?, Position::empty(account, symbol.clone())));
    }
    let mut p = c;
    let position_row = positions::table
        .find((Uuid::from(account), symbol.as_str()))
        .select(PositionRow::as_select())
        .for_update()
        .first(&mut p);
    // `biased`: polled (so sent) in this order, the lock order.
    let (found, position_row) = tokio::join!(biased; lock_account::<E>(c, account), position_row);
    let found = found?;
    let position = match position_row.optional()? {
        Some(row) => row.into_domain().map_err(TxError::port)?,
        None => Position::empty(account, symbol.clone()),
    };
    Ok((found, position))
}

/// Refuses a booking that changed a position read as the empty stand-in (not locked, not
/// loaded): writing it would overwrite the real row. The domain promises this never happens.
pub(crate) fn unchanged_stand_in(booking: &Booking) -> Result<(), InfraError> {
    if booking.position_changed {
        return Err(InfraError::Unknown(anyhow::anyhow!(
            "a booking changed position {}/{} that was not locked",
            booking.position.account_id,
            booking.position.symbol
        )));
    }
    Ok(())
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

fn update_account(a: &Account) -> UpdateAccount {
    UpdateAccount { id: a.id.into(), cash: a.cash.get(), held: a.held.get(), event_seq: db_seq(a.event_seq) }
}

/// An activity and its journal entry as the parts that insert them (none for no activities).
fn activity_parts(activities: &[Activity]) -> (Option<InsertActivities>, Option<InsertPostings>) {
    if activities.is_empty() {
        return (None, None);
    }
    let rows: Vec<ActivityRow> = activities.iter().map(ActivityRow::from).collect();
    let postings: Vec<PostingRow> = activities.iter().flat_map(PostingRow::entry).collect();
    let postings = (!postings.is_empty()).then(|| InsertPostings::from(postings));
    (Some(InsertActivities::from(rows)), postings)
}

/// Saves a deposit or withdrawal: the account's balances, the activity and its journal entry.
pub(crate) async fn write_cash_movement(
    mut c: &AsyncPgConnection,
    account: &Account,
    activity: &Activity,
) -> QueryResult<()> {
    let (activities, postings) = activity_parts(std::slice::from_ref(activity));
    let statement =
        WriteBooking { account: Some(update_account(account)), activities, postings, ..WriteBooking::default() };
    statement.execute(&mut c).await.map(drop)
}

/// Writes everything `b` says, in the caller's transaction, as one statement
/// ([`WriteBooking`]), and returns the orders as stored.
pub(crate) async fn write(mut c: &AsyncPgConnection, b: &Booking) -> QueryResult<Vec<OrderRow>> {
    // One row per order, in its final state (a booking lists an order once, but the last
    // state wins if it ever listed one twice: one upsert may not touch a row twice).
    let mut seen = HashSet::with_capacity(b.orders.len());
    let mut order_rows: Vec<OrderRow> =
        b.orders.iter().rev().filter(|o| seen.insert(o.id)).map(OrderRow::from).collect();
    order_rows.reverse();
    let fill_rows: Vec<FillRow> = b.executions.iter().map(|e| FillRow::new(e, b.account.id)).collect();
    let event_rows: Vec<TradeEventRow> = b.events.iter().map(TradeEventRow::from).collect();
    let at = b.orders.last().map_or_else(Utc::now, |o| o.updated_at);
    let position = b.position_changed.then(|| {
        let p = &b.position;
        if p.qty.is_zero() {
            PositionChange::Delete(DeletePosition {
                account_id: p.account_id.into(),
                symbol: p.symbol.as_str().to_owned(),
            })
        } else {
            PositionChange::Upsert(UpsertPosition::from(PositionRow::new(p, at)))
        }
    });
    let (activities, postings) = activity_parts(&b.activities);
    let statement = WriteBooking {
        account: b.account_changed.then(|| update_account(&b.account)),
        position,
        activities,
        postings,
        fills: (!fill_rows.is_empty()).then(|| InsertFills::from(fill_rows)),
        events: (!event_rows.is_empty()).then(|| InsertEvents::from(event_rows)),
        orders: (!order_rows.is_empty()).then(|| UpsertOrders::from(order_rows)),
    };
    if statement.orders.is_some() {
        statement.get_results(&mut c).await
    } else if statement.is_empty() {
        Ok(Vec::new())
    } else {
        statement.execute(&mut c).await.map(|_| Vec::new())
    }
}
