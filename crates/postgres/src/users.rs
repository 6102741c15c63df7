//! `UserStore`: users and the account each one owns.

use crate::errors::{self, TxError, USERS_EMAIL_KEY};
use crate::rows::{AccountRow, NewUserRow, UserRow};
use crate::schema::{accounts, users};
use crate::store::PgStore;
use async_trait::async_trait;
use brokerage_domain::accounts::Account;
use brokerage_domain::users::{CreateUserError, Credentials, Email, PasswordHash, User, UserChanges, UserStore};
use brokerage_domain::{AccountId, InfraError, Page, PageRequest, UserId};
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

    #[tracing::instrument(skip_all, fields(db.system = "postgresql", db.operation = "update_user", user.id = %id))]
    async fn update(&self, id: UserId, changes: &UserChanges) -> Result<Option<User>, InfraError> {
        let row = UserChangesRow { role: changes.role.map(|r| r.as_str()), status: changes.status.map(|s| s.as_str()) };
        if row.role.is_none() && row.status.is_none() {
            return self.get(id).await;
        }
        let mut conn = self.conn().await?;
        diesel::update(users::table.find(Uuid::from(id)))
            .set(&row)
            .returning(UserRow::as_returning())
            .get_result(&mut conn)
            .await
            .optional()
            .map_err(|e| errors::query(e, "update user"))?
            .map(UserRow::into_domain)
            .transpose()
    }

    #[tracing::instrument(skip_all, fields(db.system = "postgresql", db.operation = "set_password", user.id = %id))]
    async fn set_password(&self, id: UserId, hash: &PasswordHash) -> Result<bool, InfraError> {
        let mut conn = self.conn().await?;
        let updated = diesel::update(users::table.find(Uuid::from(id)))
            .set(users::password_hash.eq(hash.as_str()))
            .execute(&mut conn)
            .await
            .map_err(|e| errors::query(e, "set password"))?;
        Ok(updated == 1)
    }

    #[tracing::instrument(skip_all, fields(db.system = "postgresql", db.operation = "list_users"))]
    async fn list(&self, page: &PageRequest<UserId>) -> Result<Page<User, UserId>, InfraError> {
        let mut conn = self.conn().await?;
        let mut query = users::table.select(UserRow::as_select()).order(users::id.asc()).into_boxed();
        if let Some(after) = page.after {
            query = query.filter(users::id.gt(Uuid::from(after)));
        }
        let rows: Vec<UserRow> = query
            .limit(i64::try_from(page.fetch_limit()).unwrap_or(i64::MAX))
            .load(&mut conn)
            .await
            .map_err(|e| errors::query(e, "list users"))?;
        let users = rows.into_iter().map(UserRow::into_domain).collect::<Result<Vec<_>, _>>()?;
        Ok(page.into_page(users, |u| u.id))
    }
}

/// Only the fields an administrator changes; `None` leaves a column as it is.
#[derive(AsChangeset)]
#[diesel(table_name = users)]
struct UserChangesRow<'a> {
    role: Option<&'a str>,
    status: Option<&'a str>,
}
