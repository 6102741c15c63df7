//! The per-account index of `Idempotency-Key`s and what each created (see
//! `Order::request_key`): looked up and written inside the transaction that holds the account
//! lock, so one key makes at most one order or cash movement, crash or no crash.

use crate::errors::TxError;
use crate::statements::{FindRequestKey, RecordRequestKey};
use brokerage_domain::{AccountId, ActivityId, InfraError, OrderId};
use chrono::{DateTime, Utc};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

/// What a key created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Keyed {
    Order(OrderId),
    Activity(ActivityId),
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
    let rows: Vec<(Option<Uuid>, Option<Uuid>)> =
        FindRequestKey { account: Uuid::from(account), key }.load(&mut c).await?;
    Ok(rows.into_iter().next().and_then(|row| match row {
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
    RecordRequestKey { account: Uuid::from(account), key, order_id, activity_id, at }.execute(&mut c).await?;
    Ok(())
}
