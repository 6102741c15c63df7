//! The `Idempotency-Key` index's two statements, prepared once per connection. As `sql_query`
//! each was prepared anew on every keyed request, a round trip more inside the transaction
//! that holds the account's lock.

use chrono::{DateTime, Utc};
use diesel::QueryResult;
use diesel::pg::Pg;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::{Nullable, Text, Timestamptz, Uuid as SqlUuid};
use uuid::Uuid;

/// What `key` created for `account`: at most one `(order_id, activity_id)` row.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FindRequestKey<'a> {
    pub account: Uuid,
    pub key: &'a str,
}

/// Records what `key` created for `account` (exactly one of the two ids).
#[derive(Debug, Clone, Copy)]
pub(crate) struct RecordRequestKey<'a> {
    pub account: Uuid,
    pub key: &'a str,
    pub order_id: Option<Uuid>,
    pub activity_id: Option<Uuid>,
    pub at: DateTime<Utc>,
}

impl Query for FindRequestKey<'_> {
    type SqlType = (Nullable<SqlUuid>, Nullable<SqlUuid>);
}

impl QueryFragment<Pg> for FindRequestKey<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql("SELECT order_id, activity_id FROM request_keys WHERE account_id = ");
        out.push_bind_param::<SqlUuid, _>(&self.account)?;
        out.push_sql(" AND key = ");
        out.push_bind_param::<Text, _>(&self.key)?;
        Ok(())
    }
}

impl QueryFragment<Pg> for RecordRequestKey<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql("INSERT INTO request_keys (account_id, key, order_id, activity_id, created_at) VALUES (");
        out.push_bind_param::<SqlUuid, _>(&self.account)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(&self.key)?;
        out.push_sql(", ");
        out.push_bind_param::<Nullable<SqlUuid>, _>(&self.order_id)?;
        out.push_sql(", ");
        out.push_bind_param::<Nullable<SqlUuid>, _>(&self.activity_id)?;
        out.push_sql(", ");
        out.push_bind_param::<Timestamptz, _>(&self.at)?;
        out.push_sql(")");
        Ok(())
    }
}

/// One constant text each, so one cache entry each (the borrowed key is only a parameter).
impl QueryId for FindRequestKey<'_> {
    type QueryId = FindRequestKey<'static>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl QueryId for RecordRequestKey<'_> {
    type QueryId = RecordRequestKey<'static>;
    const HAS_STATIC_QUERY_ID: bool = true;
}
