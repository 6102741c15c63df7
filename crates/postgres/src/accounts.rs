//! `AccountStore`: balances, deposits and withdrawals (with their journal entries), and
//! deposits announced by the funding provider, credited once per event id.

use crate::booking::write_cash_movement;
use crate::errors::{self, TxError};
use crate::request_keys::{self, Keyed};
use crate::rows::{AccountRow, ActivityRow, FundingEventRow};
use crate::schema::{accounts, activities, funding_events};
use crate::store::PgStore;
use async_trait::async_trait;
use brokerage_domain::accounts::{Account, AccountStore, Activity, MoveCashError};
use brokerage_domain::{AccountId, InfraError};
use diesel::prelude::*;
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

/// Loads the account and locks its row until the transaction ends. Every change to an
/// account's cash or holds takes this lock first, which serialises them per account.
pub(crate) async fn lock_account<E>(mut c: &AsyncPgConnection, id: AccountId) -> Result<Option<Account>, TxError<E>>
where
    E: From<InfraError>,
{
    let row = accounts::table
        .find(Uuid::from(id))
        .select(AccountRow::as_select())
        .for_update()
        .first(&mut c)
        .await
        .optional()?;
    row.map(AccountRow::into_domain).transpose().map_err(TxError::port)
}

#[async_trait]
impl AccountStore for PgStore {
    #[tracing::instrument(skip_all, fields(db.system = "postgresql", db.operation = "get_account", account.id = %id))]
    async fn get(&self, id: AccountId) -> Result<Option<Account>, InfraError> {
        let mut conn = self.conn().await?;
        accounts::table
            .find(Uuid::from(id))
            .select(AccountRow::as_select())
            .first(&mut conn)
            .await
            .optional()
            .map_err(|e| errors::query(e, "load account"))?
            .map(AccountRow::into_domain)
            .transpose()
    }

    #[tracing::instrument(
        skip_all,
        fields(db.system = "postgresql", db.operation = "move_cash", account.id = %activity.account_id, activity.id = %activity.id)
    )]
    async fn move_cash(&self, activity: &Activity) -> Result<Account, MoveCashError> {
        let mut conn = self.conn().await?;
        conn.transaction(async |c| -> Result<Account, TxError<MoveCashError>> {
            let mut account =
                lock_account(c, activity.account_id).await?.ok_or(TxError::Port(MoveCashError::NotFound))?;
            if let Some(key) = &activity.request_key
                && let Some(Keyed::Activity(id)) = request_keys::find(c, activity.account_id, key).await?
            {
                let first = activities::table.find(Uuid::from(id)).select(ActivityRow::as_select()).first(c).await?;
                let first = first.into_domain().map_err(TxError::port)?;
                return Err(TxError::Port(MoveCashError::AlreadyApplied(Box::new(first))));
            }
            account.move_cash(activity.amount).map_err(TxError::port)?;
            write_cash_movement(c, &account, activity).await?;
            if let Some(key) = &activity.request_key {
                request_keys::record(c, activity.account_id, key, Keyed::Activity(activity.id), activity.created_at)
                    .await?;
            }
            // The account row is untouched but for cash, so the locked copy is what is stored.
            Ok(account)
        })
        .await
        .map_err(|e| e.resolve("move cash", |_| None))
    }

    #[tracing::instrument(
        skip_all,
        fields(db.system = "postgresql", db.operation = "credit_funding", account.id = %activity.account_id, activity.id = %activity.id)
    )]
    async fn credit_funding(&self, event_id: &str, activity: &Activity) -> Result<bool, MoveCashError> {
        let mut conn = self.conn().await?;
        conn.transaction(async |c| -> Result<bool, TxError<MoveCashError>> {
            let mut account =
                lock_account(c, activity.account_id).await?.ok_or(TxError::Port(MoveCashError::NotFound))?;
            // The event id is the key: a second delivery of the event (even a concurrent one,
            // which waits here for the first to commit or roll back) inserts nothing.
            let claimed = diesel::insert_into(funding_events::table)
                .values(FundingEventRow {
                    event_id,
                    account_id: activity.account_id.into(),
                    activity_id: activity.id.into(),
                    amount: activity.amount.get(),
                    created_at: activity.created_at,
                })
                .on_conflict(funding_events::event_id)
                .do_nothing()
                .execute(c)
                .await?;
            if claimed == 0 {
                return Ok(false);
            }
            account.move_cash(activity.amount).map_err(TxError::port)?;
            write_cash_movement(c, &account, activity).await?;
            Ok(true)
        })
        .await
        .map_err(|e| e.resolve("credit funding", |_| None))
    }
}
