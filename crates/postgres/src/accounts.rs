//! `AccountStore`: balances, deposits and withdrawals.

use crate::errors::{self, TxError};
use crate::rows::{AccountRow, ActivityRow};
use crate::schema::{accounts, activities};
use crate::store::PgStore;
use async_trait::async_trait;
use brokerage_domain::accounts::{Account, AccountStore, Activity, MoveCashError};
use brokerage_domain::{AccountId, InfraError};
use diesel::prelude::*;
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

/// Loads the account and locks its row until the transaction ends. Every change to an
/// account's cash or holds takes this lock first, which serialises them per account.
pub(crate) async fn lock_account<E>(c: &mut AsyncPgConnection, id: AccountId) -> Result<Option<Account>, TxError<E>>
where
    E: From<InfraError>,
{
    let row =
        accounts::table.find(Uuid::from(id)).select(AccountRow::as_select()).for_update().first(c).await.optional()?;
    row.map(AccountRow::into_domain).transpose().map_err(TxError::port)
}

/// Writes back what settlement changes on an account: cash and held cash.
pub(crate) async fn save_balances(c: &mut AsyncPgConnection, account: &Account) -> QueryResult<()> {
    diesel::update(accounts::table.find(Uuid::from(account.id)))
        .set((accounts::cash.eq(account.cash.get()), accounts::held.eq(account.held.get())))
        .execute(c)
        .await
        .map(drop)
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
            account.move_cash(activity.amount).map_err(TxError::port)?;
            save_balances(c, &account).await?;
            diesel::insert_into(activities::table).values(ActivityRow::from(activity)).execute(c).await?;
            // The account row is untouched but for cash, so the locked copy is what is stored.
            Ok(account)
        })
        .await
        .map_err(|e| e.resolve("move cash", |_| None))
    }
}
