//! The per-account index of `Idempotency-Key`s and what each created (see
//! `Order::request_key`): looked up and written inside the transaction that holds the account
//! lock, so one key makes at most one order or cash movement, crash or no crash.

use crate::errors::TxError;
use brokerage_domain::{AccountId, ActivityId, InfraError, OrderId};
use chrono::{DateTime, Utc};
use diesel::sql_types::{Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel::{QueryableByName, sql_query};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

/// What a key created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Keyed {
    Order(OrderId),
    Activity(ActivityId),
}

#[derive(QueryableByName)]
struct Row {
    #[diesel(sql_type = Nullable<SqlUuid>)]
    order_id: Option<Uuid>,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    activity_id: Option<Uuid>,
}

/// What `key` created for `account`, if it was used. Call with the account locked.
pub(crate) async fn find<E>(
    mut c: &AsyncPgConnection,
    account: AccountId,
    key: &str,
) -> Result<Option<Keyed>, TxError<E>>
where
    E: From<InfraError>,
{
    let rows: Vec<Row> = sql_query("SELECT order_id, activity_id FROM request_keys WHERE account_id = $1 AND key = $2")
        .bind::<SqlUuid, _>(Uuid::from(account))
        .bind::<Text, _>(key)
        .load(&mut c)
        .await?;
    Ok(rows.into_iter().next().and_then(|r| match (r.order_id, r.activity_id) {
        (Some(o), _) => Some(Keyed::Order(OrderId::from_uuid(o))),
        (None, Some(a)) => Some(Keyed::Activity(ActivityId::from_uuid(a))),
        (None, None) => None,
    }))
}

/// Records that `key` created `what` for `account`.
pub(crate) async fn record<E>(
    mut c: &AsyncPgConnection,
    account: AccountId,
    key: &str,
    what: Keyed,
    at: DateTime<Utc>,
) -> Result<(), TxError<E>>
where
    E: From<InfraError>,
{
    let (order_id, activity_id) = match what {
        Keyed::Order(id) => (Some(Uuid::from(id)), None),
        Keyed::Activity(id) => (None, Some(Uuid::from(id))),
    };
    sql_query(
        "INSERT INTO request_keys (account_id, key, order_id, activity_id, created_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind::<SqlUuid, _>(Uuid::from(account))
    .bind::<Text, _>(key)
    .bind::<Nullable<SqlUuid>, _>(order_id)
    .bind::<Nullable<SqlUuid>, _>(activity_id)
    .bind::<Timestamptz, _>(at)
    .execute(&mut c)
    .await?;
    Ok(())
}
