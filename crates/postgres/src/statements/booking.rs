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

/// A part that inserts (or upserts) rows of one table: `head`, then the rows, then `tail`.
/// One row — nearly every booking: an order placed, cancelled or filled once — goes as
/// `VALUES` with a scalar parameter per column, so a `NULL` is no bytes at all and PostgreSQL
/// decodes each value with its type's own receive function. Several go as one array per column
/// through `unnest`, so any number of rows is still one statement. The two shapes are two
/// statement texts, each prepared once per connection.
macro_rules! rows_part {
    ($(#[$meta:meta])* $name:ident($row:ty) { $($field:ident: $rust:ty => $st:ty),+ $(,)? } $head:literal, $tail:literal) => {
        $(#[$meta])*
        pub(crate) enum $name {
            One($row),
            Many { $($field: Vec<$rust>),+ },
        }

        impl From<Vec<$row>> for $name {
            fn from(mut rows: Vec<$row>) -> Self {
                if rows.len() == 1 && let Some(row) = rows.pop() {
                    return Self::One(row);
                }
                Self::Many { $($field: rows.iter().map(|r| r.$field.clone()).collect()),+ }
            }
        }

        impl QueryFragment<Pg> for $name {
            #[allow(unused_assignments)]
            fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
                out.push_sql($head);
                let mut separator = "";
                match self {
                    Self::One(row) => {
                        out.push_sql(" VALUES (");
                        $(
                            out.push_sql(separator);
                            separator = ", ";
                            out.push_bind_param::<$st, $rust>(&row.$field)?;
                        )+
                    }
                    Self::Many { $($field),+ } => {
                        out.push_sql(" SELECT * FROM unnest(");
                        $(
                            out.push_sql(separator);
                            separator = ", ";
                            out.push_bind_param::<Array<$st>, Vec<$rust>>($field)?;
                        )+
                    }
                }
                out.push_sql(")");
                out.push_sql($tail);
                Ok(())
            }
        }
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

rows_part! {
    /// Inserts activities.
    InsertActivities(ActivityRow) {
        id: Uuid => SqlUuid,
        account_id: Uuid => SqlUuid,
        kind: String => Text,
        amount: Decimal => Numeric,
        order_id: Option<Uuid> => Nullable<SqlUuid>,
        symbol: Option<String> => Nullable<Text>,
        side: Option<String> => Nullable<Text>,
        qty: Option<Decimal> => Nullable<Numeric>,
        price: Option<Decimal> => Nullable<Numeric>,
        created_at: DateTime<Utc> => Timestamptz,
        realized_pl: Option<Decimal> => Nullable<Numeric>,
    }
    "INSERT INTO activities (id, account_id, kind, amount, order_id, symbol, side, qty, price, created_at, \
     realized_pl)",
    ""
}

rows_part! {
    /// Inserts journal postings.
    InsertPostings(PostingRow) {
        activity_id: Uuid => SqlUuid,
        leg: i16 => Int2,
        book: &'static str => Text,
        account_id: Option<Uuid> => Nullable<SqlUuid>,
        asset: String => Text,
        amount: Decimal => Numeric,
        created_at: DateTime<Utc> => Timestamptz,
    }
    "INSERT INTO journal_postings (activity_id, leg, book, account_id, asset, amount, created_at)",
    ""
}

rows_part! {
    /// Inserts fills.
    InsertFills(FillRow) {
        order_id: Uuid => SqlUuid,
        seq: i32 => Int4,
        account_id: Uuid => SqlUuid,
        qty: Decimal => Numeric,
        price: Decimal => Numeric,
        activity_id: Uuid => SqlUuid,
        created_at: DateTime<Utc> => Timestamptz,
    }
    "INSERT INTO fills (order_id, seq, account_id, qty, price, activity_id, created_at)",
    ""
}

rows_part! {
    /// Inserts trade events.
    InsertEvents(TradeEventRow) {
        account_id: Uuid => SqlUuid,
        seq: i64 => Int8,
        kind: String => Text,
        order_id: Uuid => SqlUuid,
        status: String => Text,
        filled_qty: Decimal => Numeric,
        filled_avg_price: Option<Decimal> => Nullable<Numeric>,
        held_cash: Decimal => Numeric,
        stop_price: Option<Decimal> => Nullable<Numeric>,
        hwm: Option<Decimal> => Nullable<Numeric>,
        triggered_at: Option<DateTime<Utc>> => Nullable<Timestamptz>,
        fill_seq: i32 => Int4,
        filled_at: Option<DateTime<Utc>> => Nullable<Timestamptz>,
        canceled_at: Option<DateTime<Utc>> => Nullable<Timestamptz>,
        expired_at: Option<DateTime<Utc>> => Nullable<Timestamptz>,
        replaced_by: Option<Uuid> => Nullable<SqlUuid>,
        updated_at: DateTime<Utc> => Timestamptz,
        fill_qty: Option<Decimal> => Nullable<Numeric>,
        fill_price: Option<Decimal> => Nullable<Numeric>,
        created_at: DateTime<Utc> => Timestamptz,
    }
    "INSERT INTO trade_events (account_id, seq, kind, order_id, status, filled_qty, filled_avg_price, held_cash, \
     stop_price, hwm, triggered_at, fill_seq, filled_at, canceled_at, expired_at, replaced_by, updated_at, fill_qty, \
     fill_price, created_at)",
    ""
}

rows_part! {
    /// Inserts new orders and updates changed ones (by id), returning them as stored.
    UpsertOrders(OrderRow) {
        id: Uuid => SqlUuid,
        account_id: Uuid => SqlUuid,
        client_order_id: Option<String> => Nullable<Text>,
        symbol: String => Text,
        side: String => Text,
        order_type: String => Text,
        time_in_force: String => Text,
        qty: Decimal => Numeric,
        notional: Option<Decimal> => Nullable<Numeric>,
        limit_price: Option<Decimal> => Nullable<Numeric>,
        stop_price: Option<Decimal> => Nullable<Numeric>,
        trail_percent: Option<Decimal> => Nullable<Numeric>,
        status: String => Text,
        filled_qty: Decimal => Numeric,
        filled_avg_price: Option<Decimal> => Nullable<Numeric>,
        held_cash: Decimal => Numeric,
        created_at: DateTime<Utc> => Timestamptz,
        updated_at: DateTime<Utc> => Timestamptz,
        submitted_at: DateTime<Utc> => Timestamptz,
        filled_at: Option<DateTime<Utc>> => Nullable<Timestamptz>,
        canceled_at: Option<DateTime<Utc>> => Nullable<Timestamptz>,
        expired_at: Option<DateTime<Utc>> => Nullable<Timestamptz>,
        replaced_by: Option<Uuid> => Nullable<SqlUuid>,
        replaces: Option<Uuid> => Nullable<SqlUuid>,
        hwm: Option<Decimal> => Nullable<Numeric>,
        triggered_at: Option<DateTime<Utc>> => Nullable<Timestamptz>,
        fill_seq: i32 => Int4,
    }
    "INSERT INTO orders (id, account_id, client_order_id, symbol, side, order_type, time_in_force, qty, notional, \
     limit_price, stop_price, trail_percent, status, filled_qty, filled_avg_price, held_cash, created_at, updated_at, \
     submitted_at, filled_at, canceled_at, expired_at, replaced_by, replaces, hwm, triggered_at, fill_seq)",
    " ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status, filled_qty = EXCLUDED.filled_qty, \
     filled_avg_price = EXCLUDED.filled_avg_price, held_cash = EXCLUDED.held_cash, stop_price = EXCLUDED.stop_price, \
     updated_at = EXCLUDED.updated_at, filled_at = EXCLUDED.filled_at, canceled_at = EXCLUDED.canceled_at, \
     expired_at = EXCLUDED.expired_at, replaced_by = EXCLUDED.replaced_by, hwm = EXCLUDED.hwm, \
     triggered_at = EXCLUDED.triggered_at, fill_seq = EXCLUDED.fill_seq \
     RETURNING id, account_id, client_order_id, symbol, side, order_type, time_in_force, qty, notional, limit_price, \
     stop_price, trail_percent, status, filled_qty, filled_avg_price, held_cash, created_at, updated_at, \
     submitted_at, filled_at, canceled_at, expired_at, replaced_by, replaces, hwm, triggered_at, fill_seq"
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

    fn fill(seq: i32) -> FillRow {
        FillRow {
            order_id: Uuid::nil(),
            seq,
            account_id: Uuid::nil(),
            qty: Decimal::ONE,
            price: Decimal::TEN,
            activity_id: Uuid::nil(),
            created_at: DateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn one_row_binds_a_scalar_per_column_and_several_an_array_per_column() {
        let one = WriteBooking { fills: Some(InsertFills::from(vec![fill(1)])), ..WriteBooking::default() };
        assert_eq!(
            sql(&one).split(" -- ").next(),
            Some(
                "INSERT INTO fills (order_id, seq, account_id, qty, price, activity_id, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)"
            )
        );
        let two = WriteBooking { fills: Some(InsertFills::from(vec![fill(1), fill(2)])), ..WriteBooking::default() };
        let sql = sql(&two);
        assert!(sql.contains("created_at) SELECT * FROM unnest($1, $2, $3, $4, $5, $6, $7) -- "), "{sql}");
        assert!(sql.contains("[1, 2]"), "the second row is bound too: {sql}");
    }

    #[test]
    fn nothing_to_write_is_no_statement() {
        let statement = WriteBooking::default();
        assert!(statement.is_empty());
        let mut builder = diesel::pg::PgQueryBuilder::default();
        assert!(statement.to_sql(&mut builder, &Pg).is_err());
    }
}
