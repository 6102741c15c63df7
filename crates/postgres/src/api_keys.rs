//! `ApiKeyStore`: API keys with their sealed secrets.

use crate::errors;
use crate::schema::api_keys;
use crate::store::PgStore;
use async_trait::async_trait;
use brokerage_domain::api_keys::{ApiKey, ApiKeyStore};
use brokerage_domain::{AccountId, ApiKeyId, ApiScopes, InfraError, Page, PageRequest, UserId};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use uuid::Uuid;

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = api_keys, check_for_backend(diesel::pg::Pg))]
struct ApiKeyRow {
    id: Uuid,
    user_id: Uuid,
    account_id: Uuid,
    name: String,
    key_id: String,
    scopes: Vec<String>,
    created_at: DateTime<Utc>,
}

impl ApiKeyRow {
    fn into_domain(self) -> Result<ApiKey, InfraError> {
        let scopes = ApiScopes::parse(self.scopes.iter().map(String::as_str)).ok_or_else(|| {
            InfraError::Unknown(anyhow::anyhow!("api_keys {}: unknown scope in {:?}", self.id, self.scopes))
        })?;
        Ok(ApiKey {
            id: ApiKeyId::from_uuid(self.id),
            user_id: UserId::from_uuid(self.user_id),
            account_id: AccountId::from_uuid(self.account_id),
            name: self.name,
            key_id: self.key_id,
            scopes,
            created_at: self.created_at,
        })
    }
}

#[async_trait]
impl ApiKeyStore for PgStore {
    #[tracing::instrument(skip_all, fields(db.system = "postgresql", db.operation = "api_key_create"))]
    async fn create(&self, key: &ApiKey, sealed_secret: &str) -> Result<(), InfraError> {
        let row = ApiKeyRow {
            id: (*key.id.as_uuid()),
            user_id: (*key.user_id.as_uuid()),
            account_id: (*key.account_id.as_uuid()),
            name: key.name.clone(),
            key_id: key.key_id.clone(),
            scopes: key.scopes.names().into_iter().map(str::to_owned).collect(),
            created_at: key.created_at,
        };
        let mut conn = self.conn().await?;
        diesel::insert_into(api_keys::table)
            .values((&row, api_keys::sealed_secret.eq(sealed_secret)))
            .execute(&mut conn)
            .await
            .map(|_| ())
            .map_err(|e| errors::query(e, "create api key"))
    }

    #[tracing::instrument(skip_all, fields(db.system = "postgresql", db.operation = "api_key_list"))]
    async fn list(&self, user: UserId, page: &PageRequest<ApiKeyId>) -> Result<Page<ApiKey, ApiKeyId>, InfraError> {
        let mut conn = self.conn().await?;
        let mut query = api_keys::table
            .filter(api_keys::user_id.eq(Uuid::from(user)))
            .filter(api_keys::revoked_at.is_null())
            .select(ApiKeyRow::as_select())
            .order(api_keys::id.asc())
            .into_boxed();
        if let Some(after) = page.after {
            query = query.filter(api_keys::id.gt(Uuid::from(after)));
        }
        let rows: Vec<ApiKeyRow> = query
            .limit(i64::try_from(page.fetch_limit()).unwrap_or(i64::MAX))
            .load(&mut conn)
            .await
            .map_err(|e| errors::query(e, "list api keys"))?;
        let keys = rows.into_iter().map(ApiKeyRow::into_domain).collect::<Result<Vec<_>, _>>()?;
        Ok(page.into_page(keys, |k| k.id))
    }

    #[tracing::instrument(skip_all, fields(db.system = "postgresql", db.operation = "api_key_revoke"))]
    async fn revoke(&self, user: UserId, id: ApiKeyId, at: DateTime<Utc>) -> Result<bool, InfraError> {
        let mut conn = self.conn().await?;
        let updated = diesel::update(
            api_keys::table
                .find(Uuid::from(id))
                .filter(api_keys::user_id.eq(Uuid::from(user)))
                .filter(api_keys::revoked_at.is_null()),
        )
        .set(api_keys::revoked_at.eq(at))
        .execute(&mut conn)
        .await
        .map_err(|e| errors::query(e, "revoke api key"))?;
        Ok(updated == 1)
    }

    #[tracing::instrument(skip_all, fields(db.system = "postgresql", db.operation = "api_key_find"))]
    async fn find_live(&self, key_id: &str) -> Result<Option<(ApiKey, String)>, InfraError> {
        let mut conn = self.conn().await?;
        let row: Option<(ApiKeyRow, String)> = api_keys::table
            .filter(api_keys::key_id.eq(key_id))
            .filter(api_keys::revoked_at.is_null())
            .select((ApiKeyRow::as_select(), api_keys::sealed_secret))
            .first(&mut conn)
            .await
            .optional()
            .map_err(|e| errors::query(e, "find api key"))?;
        row.map(|(key, sealed)| Ok((key.into_domain()?, sealed))).transpose()
    }

    #[tracing::instrument(skip_all, fields(db.system = "postgresql", db.operation = "api_key_reseal"))]
    async fn reseal(&self, id: ApiKeyId, sealed_secret: &str) -> Result<(), InfraError> {
        let mut conn = self.conn().await?;
        diesel::update(api_keys::table.find(Uuid::from(id)))
            .set(api_keys::sealed_secret.eq(sealed_secret))
            .execute(&mut conn)
            .await
            .map(|_| ())
            .map_err(|e| errors::query(e, "reseal api key"))
    }
}
