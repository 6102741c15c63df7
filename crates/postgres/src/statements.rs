//! Hand-written statements for the write path, built to be *prepared once per connection*.
//!
//! diesel marks every `UPDATE`, every `ON CONFLICT … DO UPDATE`, every multi-row `INSERT` and
//! every insert of an optional value as unsafe to cache, and diesel-async prepares such
//! statements anew on each use, one at a time (its statement cache is locked while it
//! prepares): a booking of six statements would cost six extra round trips. The statements
//! here have fixed SQL and a static query id, so they are prepared on first use and then
//! only bound and executed; multi-row inserts take one array per column and `unnest` them,
//! so any number of rows is still one fixed statement.

use crate::rows::{ActivityRow, FillRow, OrderRow, PositionRow, PostingRow, TradeEventRow};
use crate::schema::orders;
use brokerage_domain::orders::Candidates;
use chrono::{DateTime, Utc};
use diesel::QueryResult;
use diesel::pg::Pg;
use diesel::query_builder::{AsQuery, AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::{Array, Int2, Int4, Int8, Nullable, Numeric, Text, Timestamptz, Uuid as SqlUuid};
use rust_decimal::Decimal;
use uuid::Uuid;

/// A statement `head` + its binds separated by commas + `tail`, with a static query id.
macro_rules! statement {
    ($(#[$meta:meta])* $name:ident { $($field:ident: $rust:ty => $st:ty),+ $(,)? } $head:literal, $tail:literal) => {
        $(#[$meta])*
        pub(crate) struct $name {
            $(pub $field: $rust),+
        }

        impl QueryId for $name {
            type QueryId = $name;
            const HAS_STATIC_QUERY_ID: bool = true;
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

statement! {
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

statement! {
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

statement! {
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

statement! {
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

statement! {
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

statement! {
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

statement! {
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

/// `RETURNING` lists the columns in `orders`' order, so the rows load as `OrderRow`s.
impl Query for UpsertOrders {
    type SqlType = <orders::table as AsQuery>::SqlType;
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

/// The columns of `orders` in table order, so rows load as `OrderRow`s.
const ORDER_COLUMNS: &str = "id, account_id, client_order_id, symbol, side, order_type, time_in_force, qty, notional, \
     limit_price, stop_price, trail_percent, status, filled_qty, filled_avg_price, held_cash, created_at, updated_at, \
     submitted_at, filled_at, canceled_at, expired_at, replaced_by, replaces, hwm, triggered_at, fill_seq";

/// The open book's predicate, spelled exactly as the partial indexes spell it (a bound
/// parameter could not prove that an index covers the query).
macro_rules! open_book {
    () => {
        "status IN ('new', 'partially_filled')"
    };
}

/// The symbols with open orders, in order: a skip scan over `orders_open_limit_idx`, one
/// index probe per symbol instead of a walk over the whole open book.
///
/// The engine's two reads are planned afresh on every pass (unnamed statements, once a
/// second): a plan cached while the book was small (a new database, a quiet start) kept
/// scanning the whole book after it had grown — 20–200 ms a pass at 30 k–60 k orders, seen
/// as order-latency spikes every second. Planning costs well under a millisecond.
#[derive(Debug, Clone, Copy, QueryId)]
pub(crate) struct OpenSymbols;

impl Query for OpenSymbols {
    type SqlType = Text;
}

impl QueryFragment<Pg> for OpenSymbols {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.unsafe_to_cache_prepared();
        out.push_sql(concat!(
            "WITH RECURSIVE s (symbol) AS (SELECT min(symbol) FROM orders WHERE ",
            open_book!(),
            " UNION ALL SELECT (SELECT min(symbol) FROM orders WHERE ",
            open_book!(),
            " AND symbol > s.symbol) FROM s WHERE s.symbol IS NOT NULL) \
             SELECT symbol FROM s WHERE symbol IS NOT NULL",
        ));
        Ok(())
    }
}

/// The engine's candidates on one symbol, [`Candidates::may_act`] in SQL: open orders the
/// touch could trade or move, and day orders submitted before the last close, by id from
/// `after`, at most `limit`. Each part is one disjoint `UNION ALL` arm read through its own
/// partial index (migration `engine_candidate_indexes`), so a pass costs the candidates it
/// finds, not the size of the book. One statement text for every pass (absent parts are NULL
/// binds, which no row satisfies), planned afresh each time (see [`OpenSymbols`]).
/// `crates/postgres/tests/store/engine.rs` checks it against `may_act` order by order.
#[derive(Debug, Clone, QueryId)]
pub(crate) struct EngineCandidates {
    symbol: String,
    ask: Option<Decimal>,
    bid: Option<Decimal>,
    day_orders_before: Option<DateTime<Utc>>,
    after: Option<Uuid>,
    limit: i64,
}

impl Query for EngineCandidates {
    type SqlType = <orders::table as AsQuery>::SqlType;
}

impl EngineCandidates {
    pub(crate) fn new(symbol: &str, c: &Candidates, after: Option<Uuid>, limit: usize) -> Self {
        Self {
            symbol: symbol.to_owned(),
            ask: c.touch.map(|t| t.ask.get()),
            bid: c.touch.map(|t| t.bid.get()),
            day_orders_before: c.day_orders_before,
            after,
            limit: i64::try_from(limit).unwrap_or(i64::MAX),
        }
    }

    /// One arm: the open orders of the symbol after the cursor that satisfy `condition`
    /// (SQL with `?` where `binds` go, in order); `trading` arms leave expiring day orders to
    /// the day arm, so no order is read twice.
    fn arm<'b>(
        &'b self,
        out: &mut AstPass<'_, 'b, Pg>,
        condition: &'static str,
        binds: &[&'b Option<Decimal>],
        trading: bool,
    ) -> QueryResult<()> {
        out.push_sql("SELECT ");
        out.push_sql(ORDER_COLUMNS);
        out.push_sql(" FROM orders WHERE symbol = ");
        out.push_bind_param::<Text, _>(&self.symbol)?;
        out.push_sql(concat!(" AND ", open_book!(), " AND ("));
        out.push_bind_param::<Nullable<SqlUuid>, _>(&self.after)?;
        out.push_sql("::uuid IS NULL OR id > ");
        out.push_bind_param::<Nullable<SqlUuid>, _>(&self.after)?;
        out.push_sql(") AND ");
        let mut binds = binds.iter();
        for (i, part) in condition.split('?').enumerate() {
            if i > 0 {
                match binds.next() {
                    Some(bind) => out.push_bind_param::<Nullable<Numeric>, _>(*bind)?,
                    None => out.push_bind_param::<Nullable<Timestamptz>, _>(&self.day_orders_before)?,
                }
            }
            out.push_sql(part);
        }
        if trading {
            out.push_sql(" AND (time_in_force <> 'day' OR ");
            out.push_bind_param::<Nullable<Timestamptz>, _>(&self.day_orders_before)?;
            out.push_sql("::timestamptz IS NULL OR submitted_at >= ");
            out.push_bind_param::<Nullable<Timestamptz>, _>(&self.day_orders_before)?;
            out.push_sql(")");
        }
        Ok(())
    }
}

/// Limit-like orders: a limit, or a stop-limit already armed.
macro_rules! limit_like {
    () => {
        "(order_type = 'limit' OR (order_type = 'stop_limit' AND triggered_at IS NOT NULL))"
    };
}

/// Stop-like orders: a stop, or a stop-limit not armed.
macro_rules! stop_like {
    () => {
        "(order_type = 'stop' OR (order_type = 'stop_limit' AND triggered_at IS NULL))"
    };
}

impl QueryFragment<Pg> for EngineCandidates {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.unsafe_to_cache_prepared();
        // Buys trade at the ask, sells at the bid; market and trailing orders act on any
        // touch; day orders past a close expire, touch or not. `?` in a condition is the
        // touch (or, in the last arm, the cutoff).
        let arms: [(&str, &[&Option<Decimal>], bool); 6] = [
            ("?::numeric IS NOT NULL AND order_type IN ('market', 'trailing_stop')", &[&self.ask], true),
            (concat!("side = 'buy' AND limit_price >= ? AND ", limit_like!()), &[&self.ask], true),
            (concat!("side = 'sell' AND limit_price <= ? AND ", limit_like!()), &[&self.bid], true),
            (
                concat!("side = 'buy' AND stop_price IS NOT NULL AND stop_price <= ? AND ", stop_like!()),
                &[&self.ask],
                true,
            ),
            (
                concat!("side = 'sell' AND stop_price IS NOT NULL AND stop_price >= ? AND ", stop_like!()),
                &[&self.bid],
                true,
            ),
            ("time_in_force = 'day' AND submitted_at < ?", &[], false),
        ];
        for (i, (condition, binds, trading)) in arms.into_iter().enumerate() {
            if i > 0 {
                out.push_sql(" UNION ALL ");
            }
            self.arm(&mut out, condition, binds, trading)?;
        }
        out.push_sql(" ORDER BY id LIMIT ");
        out.push_bind_param::<diesel::sql_types::BigInt, _>(&self.limit)?;
        Ok(())
    }
}
