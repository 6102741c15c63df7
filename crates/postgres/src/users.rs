//! `UserStore`: users and the account each one owns.

use crate::errors::{self, TxError, USERS_EMAIL_KEY};
use crate::rows::{AccountRow, NewUserRow, UserRow};
use crate::schema::{accounts, users};
use crate::store::PgStore;
use async_trait::async_trait;
use brokerage_domain::accounts::Account;
use brokerage_domain::users::{CreateUserError, Credentials, Email, PasswordHash, Role, User, UserStore};
use brokerage_domain::{AccountId, InfraError, UserId};
use diesel::prelude::*;
use diesel_async::{AsyncConnection as _, RunQueryDsl};
use uuid::Uuid;

#[async_trait]
impl UserStore for PgStore {
    #[tracing::instrument(skip_all, fields(db.system = "postgresql", db.operation = "create_user", user.id = %user.id))]
    async fn create_with_account(
        &self,
        user: &User,
        hash: &PasswordHash,
        account: &Account,
    ) -> Result<(), CreateUserError> {
        let new_user = NewUserRow {
            id: user.id.into(),
            email: user.email.as_str(),
            password_hash: hash.as_str(),
            role: user.role.as_str(),
            status: user.status.as_str(),
            totp_enabled: user.totp_enabled,
            created_at: user.created_at,
        };
        let new_account = AccountRow::from(account);
        let mut conn = self.conn().await?;
        conn.transaction(async |c| -> Result<(), TxError<CreateUserError>> {
            diesel::insert_into(users::table).values(&new_user).execute(c).await?;
            diesel::insert_into(accounts::table).values(&new_account).execute(c).await?;
            Ok(())
        })
        .await
        .map_err(|e| {
            e.resolve("create user with account", |e| {
                errors::is_unique_violation(e, USERS_EMAIL_KEY).then_some(CreateUserError::EmailTaken)
            })
        })
    }

    #[tracing::instrument(skip_all, fields(db.system = "postgresql", db.operation = "credentials_by_email"))]
    async fn credentials_by_email(&self, email: &Email) -> Result<Option<Credentials>, InfraError> {
        let mut conn = self.conn().await?;
        let row = users::table
            .inner_join(accounts::table)
            .filter(users::email.eq(email.as_str()))
            .select((UserRow::as_select(), users::password_hash, accounts::id))
            .first::<(UserRow, String, Uuid)>(&mut conn)
            .await
            .optional()
            .map_err(|e| errors::query(e, "load credentials"))?;
        row.map(|(user, hash, account_id)| {
            Ok(Credentials {
                user: user.into_domain()?,
                password_hash: PasswordHash::new(hash),
                account_id: AccountId::from_uuid(account_id),
            })
        })
        .transpose()
    }

    #[tracing::instrument(skip_all, fields(db.system = "postgresql", db.operation = "get_user", user.id = %id))]
    async fn get(&self, id: UserId) -> Result<Option<User>, InfraError> {
        let mut conn = self.conn().await?;
        users::table
            .find(Uuid::from(id))
            .select(UserRow::as_select())
            .first(&mut conn)
            .await
            .optional()
            .map_err(|e| errors::query(e, "load user"))?
            .map(UserRow::into_domain)
            .transpose()
    }

    #[tracing::instrument(skip_all, fields(db.system = "postgresql", db.operation = "set_role", user.id = %id))]
    async fn set_role(&self, id: UserId, role: Role) -> Result<Option<User>, InfraError> {
        let mut conn = self.conn().await?;
        diesel::update(users::table.find(Uuid::from(id)))
            .set(users::role.eq(role.as_str()))
            .returning(UserRow::as_returning())
            .get_result(&mut conn)
            .await
            .optional()
            .map_err(|e| errors::query(e, "set role"))?
            .map(UserRow::into_domain)
            .transpose()
    }
}
