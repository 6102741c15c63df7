//! `LedgerStore`: the account's activities, newest first; realised P&L; the audit of the
//! whole book (`scripts/check-invariants.sql`, compiled in).

use crate::errors;
use crate::rows::ActivityRow;
use crate::schema::activities;
use crate::store::PgStore;
use async_trait::async_trait;
use brokerage_domain::accounts::{Activity, ActivityFilter, ActivityKind, LedgerStore};
use brokerage_domain::{AccountId, ActivityId, InfraError, Money, Page, PageRequest};
use diesel::QueryableByName;
use diesel::dsl::sum;
use diesel::prelude::*;
use diesel::sql_types::Text;
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

    #[tracing::instrument(skip_all, fields(db.system = "postgresql", db.operation = "realized_pl", account.id = %account))]
    async fn realized_pl(&self, account: AccountId) -> Result<Money, InfraError> {
        let mut conn = self.conn().await?;
        let total: Option<rust_decimal::Decimal> = activities::table
            .filter(activities::account_id.eq(Uuid::from(account)))
            .filter(activities::kind.eq(ActivityKind::Fill.as_str()))
            .select(sum(activities::realized_pl))
            .first(&mut conn)
            .await
            .map_err(|e| errors::query(e, "sum realized P&L"))?;
        Money::new(total.unwrap_or_default())
            .map_err(|e| InfraError::Unknown(anyhow::anyhow!("account {account}'s realized P&L is out of range: {e}")))
    }

    #[tracing::instrument(skip_all, fields(db.system = "postgresql", db.operation = "audit"))]
    async fn audit(&self) -> Result<Vec<String>, InfraError> {
        #[derive(QueryableByName)]
        struct Violation {
            #[diesel(sql_type = Text)]
            problem: String,
        }
        let mut conn = self.conn().await?;
        let rows: Vec<Violation> =
            diesel::sql_query(INVARIANTS).load(&mut conn).await.map_err(|e| errors::query(e, "audit the book"))?;
        Ok(rows.into_iter().map(|v| v.problem).collect())
    }
}

/// The invariant checks, one statement returning a row per violation; operators run the
/// same file with psql.
const INVARIANTS: &str = include_str!("../../../scripts/check-invariants.sql");

/// `LIMIT` for a page: one row more than asked, to learn whether another page follows.
pub(crate) fn fetch_limit<C>(page: &PageRequest<C>) -> i64 {
    i64::try_from(page.fetch_limit()).unwrap_or(i64::MAX)
}
