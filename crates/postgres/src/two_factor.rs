//! `TwoFactorStore`: the sealed TOTP secret and the last time step used, on `users`.

use crate::errors;
use crate::schema::users;
use crate::store::PgStore;
use async_trait::async_trait;
use brokerage_domain::users::{TotpState, TwoFactorStore};
use brokerage_domain::{InfraError, UserId};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use uuid::Uuid;

#[async_trait]
impl TwoFactorStore for PgStore {
    #[tracing::instrument(skip_all, fields(db.system = "postgresql", db.operation = "totp_state"))]
    async fn totp(&self, user: UserId) -> Result<Option<TotpState>, InfraError> {
        let mut conn = self.conn().await?;
        let row: Option<(Option<String>, bool)> = users::table
            .find(Uuid::from(user))
            .select((users::totp_secret, users::totp_enabled))
            .first(&mut conn)
            .await
            .optional()
            .map_err(|e| errors::query(e, "load totp state"))?;
        Ok(row.and_then(|(secret, enabled)| secret.map(|sealed_secret| TotpState { sealed_secret, enabled })))
    }

    #[tracing::instrument(skip_all, fields(db.system = "postgresql", db.operation = "totp_set_pending"))]
    async fn set_pending(&self, user: UserId, sealed_secret: &str) -> Result<bool, InfraError> {
        let mut conn = self.conn().await?;
        let updated = diesel::update(users::table.find(Uuid::from(user)).filter(users::totp_enabled.eq(false)))
            .set(users::totp_secret.eq(sealed_secret))
            .execute(&mut conn)
            .await
            .map_err(|e| errors::query(e, "store pending totp secret"))?;
        Ok(updated == 1)
    }

    #[tracing::instrument(skip_all, fields(db.system = "postgresql", db.operation = "totp_set_enabled"))]
    async fn set_enabled(&self, user: UserId, enabled: bool) -> Result<(), InfraError> {
        let mut conn = self.conn().await?;
        let target = users::table.find(Uuid::from(user));
        let result = if enabled {
            diesel::update(target).set(users::totp_enabled.eq(true)).execute(&mut conn).await
        } else {
            diesel::update(target)
                .set((users::totp_enabled.eq(false), users::totp_secret.eq(None::<String>)))
                .execute(&mut conn)
                .await
        };
        result.map(|_| ()).map_err(|e| errors::query(e, "switch totp"))
    }

    #[tracing::instrument(skip_all, fields(db.system = "postgresql", db.operation = "totp_reseal"))]
    async fn reseal(&self, user: UserId, sealed_secret: &str) -> Result<(), InfraError> {
        let mut conn = self.conn().await?;
        diesel::update(users::table.find(Uuid::from(user)))
            .set(users::totp_secret.eq(sealed_secret))
            .execute(&mut conn)
            .await
            .map(|_| ())
            .map_err(|e| errors::query(e, "reseal totp secret"))
    }

    #[tracing::instrument(skip_all, fields(db.system = "postgresql", db.operation = "totp_use_step"))]
    async fn use_step(&self, user: UserId, step: i64) -> Result<bool, InfraError> {
        let mut conn = self.conn().await?;
        // One conditional UPDATE: two instances racing with the same code cannot both win.
        let updated = diesel::update(
            users::table
                .find(Uuid::from(user))
                .filter(users::totp_last_step.is_null().or(users::totp_last_step.lt(step))),
        )
        .set(users::totp_last_step.eq(step))
        .execute(&mut conn)
        .await
        .map_err(|e| errors::query(e, "spend totp step"))?;
        Ok(updated == 1)
    }
}
