//! `LedgerStore`: the account's activities, newest first.

use crate::errors;
use crate::rows::ActivityRow;
use crate::schema::activities;
use crate::store::PgStore;
use async_trait::async_trait;
use brokerage_domain::accounts::{Activity, ActivityFilter, LedgerStore};
use brokerage_domain::{AccountId, ActivityId, InfraError, Page, PageRequest};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use uuid::Uuid;

#[async_trait]
impl LedgerStore for PgStore {
    #[tracing::instrument(skip_all, fields(db.system = "postgresql", db.operation = "list_activities", account.id = %account))]
    async fn activities(
        &self,
        account: AccountId,
        filter: &ActivityFilter,
        page: &PageRequest<ActivityId>,
    ) -> Result<Page<Activity, ActivityId>, InfraError> {
        // Served by the (account_id, id DESC) index: ids are UUID v7, so id order is time order.
        let mut query = activities::table
            .filter(activities::account_id.eq(Uuid::from(account)))
            .select(ActivityRow::as_select())
            .order(activities::id.desc())
            .limit(fetch_limit(page))
            .into_boxed();
        if let Some(after) = page.after {
            query = query.filter(activities::id.lt(Uuid::from(after)));
        }
        if let Some(kind) = filter.kind {
            query = query.filter(activities::kind.eq(kind.as_str()));
        }
        let mut conn = self.conn().await?;
        let rows = query.load(&mut conn).await.map_err(|e| errors::query(e, "list activities"))?;
        let items = rows.into_iter().map(ActivityRow::into_domain).collect::<Result<Vec<_>, _>>()?;
        Ok(page.into_page(items, |a| a.id))
    }
}

/// `LIMIT` for a page: one row more than asked, to learn whether another page follows.
pub(crate) fn fetch_limit<C>(page: &PageRequest<C>) -> i64 {
    i64::try_from(page.fetch_limit()).unwrap_or(i64::MAX)
}
