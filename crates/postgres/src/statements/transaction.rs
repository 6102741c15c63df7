//! `BEGIN` and `COMMIT` as statements prepared once per connection. diesel's `sql_query` is
//! never cached, so diesel-async prepared `COMMIT` anew for every order: a Parse round trip
//! before the Bind, and a Close after it. These carry a static query id instead (each its own
//! type, so each its own cache entry) and go through the statement cache like every other
//! statement, which keeps them in the order they were polled (`short_tx`).

use diesel::QueryResult;
use diesel::pg::Pg;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};

/// `BEGIN`.
#[derive(Debug, Clone, Copy, QueryId)]
pub(crate) struct Begin;

/// `COMMIT`.
#[derive(Debug, Clone, Copy, QueryId)]
pub(crate) struct Commit;

impl QueryFragment<Pg> for Begin {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql("BEGIN");
        Ok(())
    }
}

impl QueryFragment<Pg> for Commit {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql("COMMIT");
        Ok(())
    }
}
