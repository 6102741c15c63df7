//! Hot reads as fixed statements. diesel builds a query's SQL again on every execution, even
//! when the statement is prepared and cached, quoting (and allocating) every identifier anew;
//! a constant text costs one copy. Used where a read runs on every request.

use crate::schema::{accounts, positions};
use diesel::QueryResult;
use diesel::pg::Pg;
use diesel::query_builder::{AsQuery, AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::{Nullable, Uuid as SqlUuid};
use uuid::Uuid;

/// An account and its positions: one row per position (in no particular order; the store sorts
/// them), or one row with no position, both from the same snapshot. Loads as
/// `(AccountRow, Option<PositionRow>)`.
#[derive(Debug, Clone, Copy, QueryId)]
pub(crate) struct AccountBook {
    pub account: Uuid,
}

impl Query for AccountBook {
    type SqlType = (<accounts::table as AsQuery>::SqlType, Nullable<<positions::table as AsQuery>::SqlType>);
}

impl QueryFragment<Pg> for AccountBook {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql(
            "SELECT a.id, a.user_id, a.currency, a.cash, a.held, a.status, a.created_at, a.event_seq, \
             p.account_id, p.symbol, p.qty, p.held, p.cost_basis, p.updated_at, p.lot_qty, p.lot_cost \
             FROM accounts AS a LEFT JOIN positions AS p ON p.account_id = a.id WHERE a.id = ",
        );
        out.push_bind_param::<SqlUuid, _>(&self.account)?;
        Ok(())
    }
}
