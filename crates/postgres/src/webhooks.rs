//! `WebhookStore`: endpoints (sealed secrets, outbox cursors) and their deliveries.
//! Workers on several instances share the work through the database: the cursor moves only
//! from the value the worker read (compare-and-set, in the same transaction as the inserted
//! deliveries), and due deliveries are claimed with `FOR UPDATE SKIP LOCKED` and leased by
//! moving `next_attempt_at` past the send's timeout.

use crate::errors;
use crate::schema::{webhook_deliveries, webhook_endpoints};
use crate::store::PgStore;
use async_trait::async_trait;
use brokerage_domain::orders::EventKind;
use brokerage_domain::webhooks::{
    AttemptOutcome, ClaimedDelivery, Delivery, DeliveryId, DeliveryStatus, EventKinds, NewDelivery, WebhookEndpoint,
    WebhookId, WebhookStore, WebhookUrl,
};
use brokerage_domain::{AccountId, InfraError, Page, PageRequest};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Text, Timestamptz};
use diesel_async::{AsyncConnection, RunQueryDsl};
use uuid::Uuid;

fn unknown(what: String) -> InfraError {
    InfraError::Unknown(anyhow::anyhow!(what))
}

fn seq(raw: i64) -> Result<u64, InfraError> {
    u64::try_from(raw).map_err(|_| unknown(format!("negative event seq {raw}")))
}

fn db_seq(seq: u64) -> i64 {
    i64::try_from(seq).unwrap_or(i64::MAX)
}

fn event_kind(raw: &str) -> Result<EventKind, InfraError> {
    EventKind::parse(raw).ok_or_else(|| unknown(format!("unknown event kind {raw:?}")))
}

fn limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = webhook_endpoints, check_for_backend(diesel::pg::Pg))]
struct EndpointRow {
    id: Uuid,
    account_id: Uuid,
    url: String,
    events: Vec<String>,
    created_at: DateTime<Utc>,
}

impl EndpointRow {
    fn into_domain(self) -> Result<WebhookEndpoint, InfraError> {
        let events = EventKinds::parse(self.events.iter().map(String::as_str))
            .ok_or_else(|| unknown(format!("webhook_endpoints {}: bad events {:?}", self.id, self.events)))?;
        Ok(WebhookEndpoint {
            id: WebhookId::from_uuid(self.id),
            account_id: AccountId::from_uuid(self.account_id),
            url: WebhookUrl::from_trusted(self.url),
            events,
            created_at: self.created_at,
        })
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = webhook_deliveries, check_for_backend(diesel::pg::Pg))]
struct DeliveryRow {
    id: Uuid,
    account_id: Uuid,
    endpoint_id: Uuid,
    event_seq: i64,
    event: String,
    attempt: i32,
    status: String,
    response_status: Option<i32>,
    error: Option<String>,
    next_attempt_at: Option<DateTime<Utc>>,
    delivered_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
}

impl DeliveryRow {
    fn into_domain(self) -> Result<Delivery, InfraError> {
        Ok(Delivery {
            id: DeliveryId::from_uuid(self.id),
            endpoint_id: WebhookId::from_uuid(self.endpoint_id),
            account_id: AccountId::from_uuid(self.account_id),
            event_seq: seq(self.event_seq)?,
            event: event_kind(&self.event)?,
            attempt: u32::try_from(self.attempt).unwrap_or_default(),
            status: DeliveryStatus::parse(&self.status)
                .ok_or_else(|| unknown(format!("webhook_deliveries {}: bad status {:?}", self.id, self.status)))?,
            response_status: self.response_status.and_then(|s| u16::try_from(s).ok()),
            error: self.error,
            next_attempt_at: self.next_attempt_at,
            delivered_at: self.delivered_at,
            created_at: self.created_at,
        })
    }
}

/// A row of the claim statement.
#[derive(QueryableByName)]
struct ClaimRow {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    id: Uuid,
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    endpoint_id: Uuid,
    #[diesel(sql_type = Text)]
    url: String,
    #[diesel(sql_type = Text)]
    sealed_secret: String,
    #[diesel(sql_type = BigInt)]
    event_seq: i64,
    #[diesel(sql_type = Text)]
    event: String,
    #[diesel(sql_type = Text)]
    body: String,
    #[diesel(sql_type = Integer)]
    attempt: i32,
}

/// Locks up to `$4` due rows of live endpoints (skipping rows another worker holds), keeps at
/// most `$3` per endpoint and `$2` in all, and leases them until `$5`.
const CLAIM_SQL: &str = "\
WITH locked AS (
    SELECT d.id, d.endpoint_id, d.event_seq, d.next_attempt_at
    FROM webhook_deliveries d
    JOIN webhook_endpoints e ON e.id = d.endpoint_id
    WHERE d.status = 'pending' AND d.next_attempt_at <= $1 AND e.deleted_at IS NULL
    ORDER BY d.next_attempt_at, d.event_seq
    LIMIT $4
    FOR UPDATE OF d SKIP LOCKED
), picked AS (
    SELECT id FROM (
        SELECT id, next_attempt_at, event_seq,
               row_number() OVER (PARTITION BY endpoint_id ORDER BY event_seq) AS n
        FROM locked
    ) ranked
    WHERE n <= $3
    ORDER BY next_attempt_at, event_seq
    LIMIT $2
)
UPDATE webhook_deliveries d
SET next_attempt_at = $5
FROM picked, webhook_endpoints e
WHERE d.id = picked.id AND e.id = d.endpoint_id
RETURNING d.id, d.endpoint_id, e.url, e.sealed_secret, d.event_seq, d.event, d.body, d.attempt";

#[async_trait]
impl WebhookStore for PgStore {
    #[tracing::instrument(skip_all, fields(db.system = "postgresql", db.operation = "webhook_create"))]
    async fn create_endpoint(
        &self,
        endpoint: &WebhookEndpoint,
        sealed_secret: &str,
        cursor: u64,
    ) -> Result<(), InfraError> {
        let mut conn = self.conn().await?;
        diesel::insert_into(webhook_endpoints::table)
            .values((
                webhook_endpoints::id.eq(Uuid::from(endpoint.id)),
                webhook_endpoints::account_id.eq(Uuid::from(endpoint.account_id)),
                webhook_endpoints::url.eq(endpoint.url.as_str()),
                webhook_endpoints::events.eq(endpoint.events.names()),
                webhook_endpoints::sealed_secret.eq(sealed_secret),
                webhook_endpoints::event_cursor.eq(db_seq(cursor)),
                webhook_endpoints::cursor_moved_at.eq(endpoint.created_at),
                webhook_endpoints::created_at.eq(endpoint.created_at),
            ))
            .execute(&mut conn)
            .await
            .map(|_| ())
            .map_err(|e| errors::query(e, "create webhook endpoint"))
    }

    #[tracing::instrument(skip_all, fields(db.system = "postgresql", db.operation = "webhook_list"))]
    async fn list_endpoints(
        &self,
        account: AccountId,
        page: &PageRequest<WebhookId>,
    ) -> Result<Page<WebhookEndpoint, WebhookId>, InfraError> {
        let mut conn = self.conn().await?;
        let mut query = webhook_endpoints::table
            .filter(webhook_endpoints::account_id.eq(Uuid::from(account)))
            .filter(webhook_endpoints::deleted_at.is_null())
            .select(EndpointRow::as_select())
            .order(webhook_endpoints::id.asc())
            .into_boxed();
        if let Some(after) = page.after {
            query = query.filter(webhook_endpoints::id.gt(Uuid::from(after)));
        }
        let rows: Vec<EndpointRow> = query
            .limit(limit(page.fetch_limit()))
            .load(&mut conn)
            .await
            .map_err(|e| errors::query(e, "list webhook endpoints"))?;
        let items = rows.into_iter().map(EndpointRow::into_domain).collect::<Result<Vec<_>, _>>()?;
        Ok(page.into_page(items, |e| e.id))
    }

    #[tracing::instrument(skip_all, fields(db.system = "postgresql", db.operation = "webhook_get"))]
    async fn get_endpoint(&self, account: AccountId, id: WebhookId) -> Result<Option<WebhookEndpoint>, InfraError> {
        let mut conn = self.conn().await?;
        let row: Option<EndpointRow> = webhook_endpoints::table
            .find(Uuid::from(id))
            .filter(webhook_endpoints::account_id.eq(Uuid::from(account)))
            .filter(webhook_endpoints::deleted_at.is_null())
            .select(EndpointRow::as_select())
            .first(&mut conn)
            .await
            .optional()
            .map_err(|e| errors::query(e, "get webhook endpoint"))?;
        row.map(EndpointRow::into_domain).transpose()
    }

    #[tracing::instrument(skip_all, fields(db.system = "postgresql", db.operation = "webhook_delete"))]
    async fn delete_endpoint(&self, account: AccountId, id: WebhookId, at: DateTime<Utc>) -> Result<bool, InfraError> {
        let mut conn = self.conn().await?;
        let updated = diesel::update(
            webhook_endpoints::table
                .find(Uuid::from(id))
                .filter(webhook_endpoints::account_id.eq(Uuid::from(account)))
                .filter(webhook_endpoints::deleted_at.is_null()),
        )
        .set(webhook_endpoints::deleted_at.eq(at))
        .execute(&mut conn)
        .await
        .map_err(|e| errors::query(e, "delete webhook endpoint"))?;
        Ok(updated == 1)
    }

    #[tracing::instrument(skip_all, fields(db.system = "postgresql", db.operation = "webhook_active"))]
    async fn active_endpoints(&self, n: usize) -> Result<Vec<(WebhookEndpoint, u64)>, InfraError> {
        let mut conn = self.conn().await?;
        let rows: Vec<(EndpointRow, i64)> = webhook_endpoints::table
            .filter(webhook_endpoints::deleted_at.is_null())
            .order(webhook_endpoints::cursor_moved_at.asc())
            .select((EndpointRow::as_select(), webhook_endpoints::event_cursor))
            .limit(limit(n))
            .load(&mut conn)
            .await
            .map_err(|e| errors::query(e, "list live webhook endpoints"))?;
        rows.into_iter().map(|(row, cursor)| Ok((row.into_domain()?, seq(cursor)?))).collect()
    }

    #[tracing::instrument(skip_all, fields(db.system = "postgresql", db.operation = "webhook_enqueue", webhook.id = %endpoint))]
    async fn enqueue(
        &self,
        endpoint: WebhookId,
        from: u64,
        to: u64,
        deliveries: &[NewDelivery],
    ) -> Result<bool, InfraError> {
        let mut conn = self.conn().await?;
        let rows: Vec<_> = deliveries
            .iter()
            .map(|d| {
                (
                    webhook_deliveries::id.eq(Uuid::from(d.id)),
                    webhook_deliveries::account_id.eq(Uuid::from(d.account_id)),
                    webhook_deliveries::endpoint_id.eq(Uuid::from(d.endpoint_id)),
                    webhook_deliveries::event_seq.eq(db_seq(d.event_seq)),
                    webhook_deliveries::event.eq(d.event.as_str()),
                    webhook_deliveries::body.eq(d.body.as_str()),
                    webhook_deliveries::status.eq(DeliveryStatus::Pending.as_str()),
                    webhook_deliveries::next_attempt_at.eq(Some(d.created_at)),
                    webhook_deliveries::created_at.eq(d.created_at),
                )
            })
            .collect();
        conn.transaction(async |c| -> Result<bool, diesel::result::Error> {
            let moved = diesel::update(
                webhook_endpoints::table
                    .find(Uuid::from(endpoint))
                    .filter(webhook_endpoints::event_cursor.eq(db_seq(from)))
                    .filter(webhook_endpoints::deleted_at.is_null()),
            )
            .set((
                webhook_endpoints::event_cursor.eq(db_seq(to)),
                webhook_endpoints::cursor_moved_at.eq(diesel::dsl::now),
            ))
            .execute(c)
            .await?;
            if moved == 0 {
                return Ok(false);
            }
            if !rows.is_empty() {
                diesel::insert_into(webhook_deliveries::table)
                    .values(&rows)
                    .on_conflict((webhook_deliveries::endpoint_id, webhook_deliveries::event_seq))
                    .do_nothing()
                    .execute(c)
                    .await?;
            }
            Ok(true)
        })
        .await
        .map_err(|e| errors::query(e, "enqueue webhook deliveries"))
    }

    #[tracing::instrument(skip_all, fields(db.system = "postgresql", db.operation = "webhook_claim"))]
    async fn claim_due(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        n: usize,
        per_endpoint: usize,
    ) -> Result<Vec<ClaimedDelivery>, InfraError> {
        let mut conn = self.conn().await?;
        let scan = n.saturating_mul(4).max(64);
        let rows: Vec<ClaimRow> = diesel::sql_query(CLAIM_SQL)
            .bind::<Timestamptz, _>(now)
            .bind::<BigInt, _>(limit(n))
            .bind::<BigInt, _>(limit(per_endpoint))
            .bind::<BigInt, _>(limit(scan))
            .bind::<Timestamptz, _>(lease_until)
            .load(&mut conn)
            .await
            .map_err(|e| errors::query(e, "claim webhook deliveries"))?;
        let mut claimed = rows
            .into_iter()
            .map(|r| {
                Ok(ClaimedDelivery {
                    id: DeliveryId::from_uuid(r.id),
                    endpoint_id: WebhookId::from_uuid(r.endpoint_id),
                    url: WebhookUrl::from_trusted(r.url),
                    sealed_secret: r.sealed_secret,
                    event_seq: seq(r.event_seq)?,
                    event: event_kind(&r.event)?,
                    body: r.body,
                    attempts_before: u32::try_from(r.attempt).unwrap_or_default(),
                })
            })
            .collect::<Result<Vec<_>, InfraError>>()?;
        claimed.sort_by_key(|c| (c.endpoint_id, c.event_seq));
        Ok(claimed)
    }

    #[tracing::instrument(skip_all, fields(db.system = "postgresql", db.operation = "webhook_record", delivery.id = %id))]
    async fn record_attempt(&self, id: DeliveryId, outcome: &AttemptOutcome) -> Result<(), InfraError> {
        let mut conn = self.conn().await?;
        diesel::update(webhook_deliveries::table.find(Uuid::from(id)))
            .set((
                webhook_deliveries::attempt.eq(i32::try_from(outcome.attempt).unwrap_or(i32::MAX)),
                webhook_deliveries::status.eq(outcome.status.as_str()),
                webhook_deliveries::response_status.eq(outcome.response_status.map(i32::from)),
                webhook_deliveries::error.eq(outcome.error.as_deref()),
                webhook_deliveries::next_attempt_at.eq(outcome.next_attempt_at),
                webhook_deliveries::delivered_at.eq(outcome.delivered_at),
            ))
            .execute(&mut conn)
            .await
            .map(|_| ())
            .map_err(|e| errors::query(e, "record webhook attempt"))
    }

    #[tracing::instrument(skip_all, fields(db.system = "postgresql", db.operation = "webhook_deliveries"))]
    async fn list_deliveries(
        &self,
        account: AccountId,
        endpoint: WebhookId,
        page: &PageRequest<DeliveryId>,
    ) -> Result<Page<Delivery, DeliveryId>, InfraError> {
        let mut conn = self.conn().await?;
        let mut query = webhook_deliveries::table
            .filter(webhook_deliveries::account_id.eq(Uuid::from(account)))
            .filter(webhook_deliveries::endpoint_id.eq(Uuid::from(endpoint)))
            .select(DeliveryRow::as_select())
            .order(webhook_deliveries::id.desc())
            .into_boxed();
        if let Some(after) = page.after {
            query = query.filter(webhook_deliveries::id.lt(Uuid::from(after)));
        }
        let rows: Vec<DeliveryRow> = query
            .limit(limit(page.fetch_limit()))
            .load(&mut conn)
            .await
            .map_err(|e| errors::query(e, "list webhook deliveries"))?;
        let items = rows.into_iter().map(DeliveryRow::into_domain).collect::<Result<Vec<_>, _>>()?;
        Ok(page.into_page(items, |d| d.id))
    }
}
