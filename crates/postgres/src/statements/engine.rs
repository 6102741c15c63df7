//! The execution engine's reads of the open book.

use crate::schema::orders;
use brokerage_domain::orders::Candidates;
use chrono::{DateTime, Utc};
use diesel::QueryResult;
use diesel::pg::Pg;
use diesel::query_builder::{AsQuery, AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::{Nullable, Numeric, Text, Timestamptz, Uuid as SqlUuid};
use rust_decimal::Decimal;
use uuid::Uuid;

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
