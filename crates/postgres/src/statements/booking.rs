//! [`WriteBooking`]: everything one change of an account writes, as *one* statement.
//!
//! Each part (the orders, the account's balances, the position, activities, journal postings,
//! fills, trade events) is an `INSERT`/`UPDATE`/`DELETE` of its own table, and all but the
//! last are data-modifying CTEs of the last: PostgreSQL runs every one of them to completion,
//! on the same snapshot, whether or not anything reads its output. One statement instead of
//! one per table means one `Bind`/`Execute`/`Sync` and one answer from PostgreSQL per
//! booking: tokio-postgres ends every statement with a `Sync`, and PostgreSQL sends (and wakes
//! the server for) every `Sync`'s answer on its own.
//!
//! Why that is safe: each table is written by one part at most (the position is either
//! upserted or deleted), so no row is changed twice in the statement; the parts do not read
//! each other's rows; and the foreign keys between them are checked after the whole
//! statement (at `COMMIT` for the `DEFERRABLE` ones, migration `000005`).
//!
//! Only the parts a booking has are in the statement, so a resting order writes three tables
//! and opens no others. Each combination is its own statement text, prepared on its first use
//! on a connection and cached by that text (a handful exist: placing, cancelling, a fill, a
//! cash movement, ...).

use crate::rows::{ActivityRow, FillRow, OrderRow, PositionRow, PostingRow, TradeEventRow};
use crate::schema::orders;
use chrono::{DateTime, Utc};
use diesel::QueryResult;
use diesel::pg::Pg;
use diesel::query_builder::{AsQuery, AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::{Array, Int2, Int4, Int8, Nullable, Numeric, Text, Timestamptz, Uuid as SqlUuid};
use rust_decimal::Decimal;
use uuid::Uuid;

/// A part of [`WriteBooking`]: `head` + its binds separated by commas + `tail`.
macro_rules! part {
    ($(#[$meta:meta])* $name:ident { $($field:ident: $rust:ty => $st:ty),+ $(,)? } $head:literal, $tail:literal) => {
        $(#[$meta])*
        pub(crate) struct $name {
            $(pub $field: $rust),+
        }

        impl QueryFragment<Pg> for $name {
            #[allow(unused_assignments)]
            fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
                out.push_sql($head);
                let mut separator = "";
                $(
                    out.push_sql(separator);
                    separator = ", ";
                    out.push_bind_param::<$st, $rust>(&self.$field)?;
                )+
                out.push_sql($tail);
                Ok(())
            }
        }
    };
}

/// One column of `rows` as a vector.
macro_rules! column {
    ($rows:expr, $field:ident) => {
        $rows.iter().map(|r| r.$field.clone()).collect()
    };
}

part! {
    /// Saves an account's balances and event cursor.
    UpdateAccount {
        id: Uuid => SqlUuid,
        cash: Decimal => Numeric,
        held: Decimal => Numeric,
        event_seq: i64 => Int8,
    }
    "UPDATE accounts AS a SET cash = v.cash, held = v.held, event_seq = v.event_seq FROM (VALUES (",
    ")) AS v (id, cash, held, event_seq) WHERE a.id = v.id"
}

part! {
    /// Inserts or updates a position with its lots.
    UpsertPosition {
        account_id: Uuid => SqlUuid,
        symbol: String => Text,
        qty: Decimal => Numeric,
        held: Decimal => Numeric,
        cost_basis: Decimal => Numeric,
        updated_at: DateTime<Utc> => Timestamptz,
        lot_qty: Vec<Decimal> => Array<Numeric>,
        lot_cost: Vec<Decimal> => Array<Numeric>,
    }
    "INSERT INTO positions (account_id, symbol, qty, held, cost_basis, updated_at, lot_qty, lot_cost) VALUES (",
    ") ON CONFLICT (account_id, symbol) DO UPDATE SET qty = EXCLUDED.qty, held = EXCLUDED.held, \
     cost_basis = EXCLUDED.cost_basis, updated_at = EXCLUDED.updated_at, lot_qty = EXCLUDED.lot_qty, \
     lot_cost = EXCLUDED.lot_cost"
}

impl From<PositionRow> for UpsertPosition {
    fn from(p: PositionRow) -> Self {
        Self {
            account_id: p.account_id,
            symbol: p.symbol,
            qty: p.qty,
            held: p.held,
            cost_basis: p.cost_basis,
            updated_at: p.updated_at,
            lot_qty: p.lot_qty,
            lot_cost: p.lot_cost,
        }
    }
}

part! {
    /// Deletes a position that is back to zero.
    DeletePosition {
        account_id: Uuid => SqlUuid,
        symbol: String => Text,
    }
    "DELETE FROM positions WHERE (account_id, symbol) = (",
    ")"
}

part! {
    /// Inserts activities.
    InsertActivities {
        id: Vec<Uuid> => Array<SqlUuid>,
        account_id: Vec<Uuid> => Array<SqlUuid>,
        kind: Vec<String> => Array<Text>,
        amount: Vec<Decimal> => Array<Numeric>,
        order_id: Vec<Option<Uuid>> => Array<Nullable<SqlUuid>>,
        symbol: Vec<Option<String>> => Array<Nullable<Text>>,
        side: Vec<Option<String>> => Array<Nullable<Text>>,
        qty: Vec<Option<Decimal>> => Array<Nullable<Numeric>>,
        price: Vec<Option<Decimal>> => Array<Nullable<Numeric>>,
        created_at: Vec<DateTime<Utc>> => Array<Timestamptz>,
        realized_pl: Vec<Option<Decimal>> => Array<Nullable<Numeric>>,
    }
    "INSERT INTO activities (id, account_id, kind, amount, order_id, symbol, side, qty, price, created_at, \
     realized_pl) SELECT * FROM unnest(",
    ")"
}

impl From<&[ActivityRow]> for InsertActivities {
    fn from(rows: &[ActivityRow]) -> Self {
        Self {
            id: column!(rows, id),
            account_id: column!(rows, account_id),
            kind: column!(rows, kind),
            amount: column!(rows, amount),
            order_id: column!(rows, order_id),
            symbol: column!(rows, symbol),
            side: column!(rows, side),
            qty: column!(rows, qty),
            price: column!(rows, price),
            created_at: column!(rows, created_at),
            realized_pl: column!(rows, realized_pl),
        }
    }
}

part! {
    /// Inserts journal postings.
    InsertPostings {
        activity_id: Vec<Uuid> => Array<SqlUuid>,
        leg: Vec<i16> => Array<Int2>,
        book: Vec<&'static str> => Array<Text>,
        account_id: Vec<Option<Uuid>> => Array<Nullable<SqlUuid>>,
        asset: Vec<String> => Array<Text>,
        amount: Vec<Decimal> => Array<Numeric>,
        created_at: Vec<DateTime<Utc>> => Array<Timestamptz>,
    }
    "INSERT INTO journal_postings (activity_id, leg, book, account_id, asset, amount, created_at) \
     SELECT * FROM unnest(",
    ")"
}

impl From<&[PostingRow]> for InsertPostings {
    fn from(rows: &[PostingRow]) -> Self {
        Self {
            activity_id: column!(rows, activity_id),
            leg: column!(rows, leg),
            book: column!(rows, book),
            account_id: column!(rows, account_id),
            asset: column!(rows, asset),
            amount: column!(rows, amount),
            created_at: column!(rows, created_at),
        }
    }
}

part! {
    /// Inserts fills.
    InsertFills {
        order_id: Vec<Uuid> => Array<SqlUuid>,
        seq: Vec<i32> => Array<Int4>,
        account_id: Vec<Uuid> => Array<SqlUuid>,
        qty: Vec<Decimal> => Array<Numeric>,
        price: Vec<Decimal> => Array<Numeric>,
        activity_id: Vec<Uuid> => Array<SqlUuid>,
        created_at: Vec<DateTime<Utc>> => Array<Timestamptz>,
    }
    "INSERT INTO fills (order_id, seq, account_id, qty, price, activity_id, created_at) SELECT * FROM unnest(",
    ")"
}

impl From<&[FillRow]> for InsertFills {
    fn from(rows: &[FillRow]) -> Self {
        Self {
            order_id: column!(rows, order_id),
            seq: column!(rows, seq),
            account_id: column!(rows, account_id),
            qty: column!(rows, qty),
            price: column!(rows, price),
            activity_id: column!(rows, activity_id),
            created_at: column!(rows, created_at),
        }
    }
}

part! {
    /// Inserts trade events.
    InsertEvents {
        account_id: Vec<Uuid> => Array<SqlUuid>,
        seq: Vec<i64> => Array<Int8>,
        kind: Vec<String> => Array<Text>,
        order_id: Vec<Uuid> => Array<SqlUuid>,
        status: Vec<String> => Array<Text>,
        filled_qty: Vec<Decimal> => Array<Numeric>,
        filled_avg_price: Vec<Option<Decimal>> => Array<Nullable<Numeric>>,
        held_cash: Vec<Decimal> => Array<Numeric>,
        stop_price: Vec<Option<Decimal>> => Array<Nullable<Numeric>>,
        hwm: Vec<Option<Decimal>> => Array<Nullable<Numeric>>,
        triggered_at: Vec<Option<DateTime<Utc>>> => Array<Nullable<Timestamptz>>,
        fill_seq: Vec<i32> => Array<Int4>,
        filled_at: Vec<Option<DateTime<Utc>>> => Array<Nullable<Timestamptz>>,
        canceled_at: Vec<Option<DateTime<Utc>>> => Array<Nullable<Timestamptz>>,
        expired_at: Vec<Option<DateTime<Utc>>> => Array<Nullable<Timestamptz>>,
        replaced_by: Vec<Option<Uuid>> => Array<Nullable<SqlUuid>>,
        updated_at: Vec<DateTime<Utc>> => Array<Timestamptz>,
        fill_qty: Vec<Option<Decimal>> => Array<Nullable<Numeric>>,
        fill_price: Vec<Option<Decimal>> => Array<Nullable<Numeric>>,
        created_at: Vec<DateTime<Utc>> => Array<Timestamptz>,
    }
    "INSERT INTO trade_events (account_id, seq, kind, order_id, status, filled_qty, filled_avg_price, held_cash, \
     stop_price, hwm, triggered_at, fill_seq, filled_at, canceled_at, expired_at, replaced_by, updated_at, fill_qty, \
     fill_price, created_at) SELECT * FROM unnest(",
    ")"
}

impl From<&[TradeEventRow]> for InsertEvents {
    fn from(rows: &[TradeEventRow]) -> Self {
        Self {
            account_id: column!(rows, account_id),
            seq: column!(rows, seq),
            kind: column!(rows, kind),
            order_id: column!(rows, order_id),
            status: column!(rows, status),
            filled_qty: column!(rows, filled_qty),
            filled_avg_price: column!(rows, filled_avg_price),
            held_cash: column!(rows, held_cash),
            stop_price: column!(rows, stop_price),
            hwm: column!(rows, hwm),
            triggered_at: column!(rows, triggered_at),
            fill_seq: column!(rows, fill_seq),
            filled_at: column!(rows, filled_at),
            canceled_at: column!(rows, canceled_at),
            expired_at: column!(rows, expired_at),
            replaced_by: column!(rows, replaced_by),
            updated_at: column!(rows, updated_at),
            fill_qty: column!(rows, fill_qty),
            fill_price: column!(rows, fill_price),
            created_at: column!(rows, created_at),
        }
    }
}

part! {
    /// Inserts new orders and updates changed ones (by id), returning them as stored.
    UpsertOrders {
        id: Vec<Uuid> => Array<SqlUuid>,
        account_id: Vec<Uuid> => Array<SqlUuid>,
        client_order_id: Vec<Option<String>> => Array<Nullable<Text>>,
        symbol: Vec<String> => Array<Text>,
        side: Vec<String> => Array<Text>,
        order_type: Vec<String> => Array<Text>,
        time_in_force: Vec<String> => Array<Text>,
        qty: Vec<Decimal> => Array<Numeric>,
        notional: Vec<Option<Decimal>> => Array<Nullable<Numeric>>,
        limit_price: Vec<Option<Decimal>> => Array<Nullable<Numeric>>,
        stop_price: Vec<Option<Decimal>> => Array<Nullable<Numeric>>,
        trail_percent: Vec<Option<Decimal>> => Array<Nullable<Numeric>>,
        status: Vec<String> => Array<Text>,
        filled_qty: Vec<Decimal> => Array<Numeric>,
        filled_avg_price: Vec<Option<Decimal>> => Array<Nullable<Numeric>>,
        held_cash: Vec<Decimal> => Array<Numeric>,
        created_at: Vec<DateTime<Utc>> => Array<Timestamptz>,
        updated_at: Vec<DateTime<Utc>> => Array<Timestamptz>,
        submitted_at: Vec<DateTime<Utc>> => Array<Timestamptz>,
        filled_at: Vec<Option<DateTime<Utc>>> => Array<Nullable<Timestamptz>>,
        canceled_at: Vec<Option<DateTime<Utc>>> => Array<Nullable<Timestamptz>>,
        expired_at: Vec<Option<DateTime<Utc>>> => Array<Nullable<Timestamptz>>,
        replaced_by: Vec<Option<Uuid>> => Array<Nullable<SqlUuid>>,
        replaces: Vec<Option<Uuid>> => Array<Nullable<SqlUuid>>,
        hwm: Vec<Option<Decimal>> => Array<Nullable<Numeric>>,
        triggered_at: Vec<Option<DateTime<Utc>>> => Array<Nullable<Timestamptz>>,
        fill_seq: Vec<i32> => Array<Int4>,
    }
    "INSERT INTO orders (id, account_id, client_order_id, symbol, side, order_type, time_in_force, qty, notional, \
     limit_price, stop_price, trail_percent, status, filled_qty, filled_avg_price, held_cash, created_at, updated_at, \
     submitted_at, filled_at, canceled_at, expired_at, replaced_by, replaces, hwm, triggered_at, fill_seq) \
     SELECT * FROM unnest(",
    ") ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status, filled_qty = EXCLUDED.filled_qty, \
     filled_avg_price = EXCLUDED.filled_avg_price, held_cash = EXCLUDED.held_cash, stop_price = EXCLUDED.stop_price, \
     updated_at = EXCLUDED.updated_at, filled_at = EXCLUDED.filled_at, canceled_at = EXCLUDED.canceled_at, \
     expired_at = EXCLUDED.expired_at, replaced_by = EXCLUDED.replaced_by, hwm = EXCLUDED.hwm, \
     triggered_at = EXCLUDED.triggered_at, fill_seq = EXCLUDED.fill_seq \
     RETURNING id, account_id, client_order_id, symbol, side, order_type, time_in_force, qty, notional, limit_price, \
     stop_price, trail_percent, status, filled_qty, filled_avg_price, held_cash, created_at, updated_at, \
     submitted_at, filled_at, canceled_at, expired_at, replaced_by, replaces, hwm, triggered_at, fill_seq"
}

impl From<&[OrderRow]> for UpsertOrders {
    fn from(rows: &[OrderRow]) -> Self {
        Self {
            id: column!(rows, id),
            account_id: column!(rows, account_id),
            client_order_id: column!(rows, client_order_id),
            symbol: column!(rows, symbol),
            side: column!(rows, side),
            order_type: column!(rows, order_type),
            time_in_force: column!(rows, time_in_force),
            qty: column!(rows, qty),
            notional: column!(rows, notional),
            limit_price: column!(rows, limit_price),
            stop_price: column!(rows, stop_price),
            trail_percent: column!(rows, trail_percent),
            status: column!(rows, status),
            filled_qty: column!(rows, filled_qty),
            filled_avg_price: column!(rows, filled_avg_price),
            held_cash: column!(rows, held_cash),
            created_at: column!(rows, created_at),
            updated_at: column!(rows, updated_at),
            submitted_at: column!(rows, submitted_at),
            filled_at: column!(rows, filled_at),
            canceled_at: column!(rows, canceled_at),
            expired_at: column!(rows, expired_at),
            replaced_by: column!(rows, replaced_by),
            replaces: column!(rows, replaces),
            hwm: column!(rows, hwm),
            triggered_at: column!(rows, triggered_at),
            fill_seq: column!(rows, fill_seq),
        }
    }
}

/// A position's new state: the row with its lots, or no row once it is back to zero.
pub(crate) enum PositionChange {
    Upsert(UpsertPosition),
    Delete(DeletePosition),
}

impl QueryFragment<Pg> for PositionChange {
    fn walk_ast<'b>(&'b self, out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        match self {
            Self::Upsert(part) => part.walk_ast(out),
            Self::Delete(part) => part.walk_ast(out),
        }
    }
}

/// Everything one booking writes, as one statement: the parts it has, in a fixed order, each
/// but the last as a CTE of the last. With orders (always last) it returns them as stored
/// (`get_results`); without, it returns nothing (`execute`). See the module docs.
#[derive(Default)]
pub(crate) struct WriteBooking {
    pub account: Option<UpdateAccount>,
    pub position: Option<PositionChange>,
    pub activities: Option<InsertActivities>,
    pub postings: Option<InsertPostings>,
    pub fills: Option<InsertFills>,
    pub events: Option<InsertEvents>,
    pub orders: Option<UpsertOrders>,
}

impl WriteBooking {
    /// The parts present, in statement order, with the names their CTEs go by.
    fn parts(&self) -> impl Iterator<Item = (&'static str, &dyn QueryFragment<Pg>)> {
        fn part<'a, T: QueryFragment<Pg>>(
            name: &'static str,
            p: &'a Option<T>,
        ) -> Option<(&'static str, &'a dyn QueryFragment<Pg>)> {
            p.as_ref().map(|p| (name, p as &dyn QueryFragment<Pg>))
        }
        [
            part("booked_account", &self.account),
            part("booked_position", &self.position),
            part("booked_activities", &self.activities),
            part("booked_postings", &self.postings),
            part("booked_fills", &self.fills),
            part("booked_events", &self.events),
            part("booked_orders", &self.orders),
        ]
        .into_iter()
        .flatten()
    }

    /// Whether there is nothing to write.
    pub(crate) fn is_empty(&self) -> bool {
        self.parts().next().is_none()
    }
}

impl QueryFragment<Pg> for WriteBooking {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        let mut parts = self.parts().peekable();
        let mut first = true;
        while let Some((name, part)) = parts.next() {
            if parts.peek().is_none() {
                if !first {
                    out.push_sql(" ");
                }
                return part.walk_ast(out.reborrow());
            }
            out.push_sql(if first { "WITH " } else { ", " });
            out.push_sql(name);
            out.push_sql(" AS (");
            part.walk_ast(out.reborrow())?;
            out.push_sql(")");
            first = false;
        }
        Err(diesel::result::Error::QueryBuilderError("a booking with nothing to write is no statement".into()))
    }
}

/// Cached by its SQL text: one prepared statement per combination of parts.
impl QueryId for WriteBooking {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

/// The orders part is last and `RETURNING` lists the columns in `orders`' order, so with
/// orders the rows load as `OrderRow`s.
impl Query for WriteBooking {
    type SqlType = <orders::table as AsQuery>::SqlType;
}

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::debug_query;

    fn account() -> UpdateAccount {
        UpdateAccount { id: Uuid::nil(), cash: Decimal::ONE, held: Decimal::ZERO, event_seq: 1 }
    }

    fn sql(statement: &WriteBooking) -> String {
        debug_query::<Pg, _>(statement).to_string()
    }

    #[test]
    fn every_part_but_the_last_is_a_cte_of_the_last() {
        let gone = DeletePosition { account_id: Uuid::nil(), symbol: "AAPL".into() };
        let statement = WriteBooking {
            account: Some(account()),
            position: Some(PositionChange::Delete(gone)),
            ..WriteBooking::default()
        };
        let sql = sql(&statement);
        assert!(sql.starts_with("WITH booked_account AS (UPDATE accounts "), "{sql}");
        assert!(sql.contains(") DELETE FROM positions WHERE (account_id, symbol) = ($5, $6)"), "{sql}");
        assert_eq!(sql.matches("booked_").count(), 1, "{sql}");
    }

    #[test]
    fn a_single_part_is_a_plain_statement() {
        let statement = WriteBooking { account: Some(account()), ..WriteBooking::default() };
        assert!(sql(&statement).starts_with("UPDATE accounts AS a SET cash = v.cash"));
    }

    #[test]
    fn nothing_to_write_is_no_statement() {
        let statement = WriteBooking::default();
        assert!(statement.is_empty());
        let mut builder = diesel::pg::PgQueryBuilder::default();
        assert!(statement.to_sql(&mut builder, &Pg).is_err());
    }
}
