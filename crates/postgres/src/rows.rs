//! Row structs and their conversions to and from domain types.
//!
//! Reading is fallible: a row the domain cannot represent (an unknown enum string, a negative
//! quantity, a half-filled trade) means the database holds something this code never wrote.
//! It becomes an `InfraError::Unknown` naming the table, the row and the field, never a panic.
//! Decimals are normalised on the way in, so `NUMERIC(28,9)` padding (`10.000000000`) does
//! not leak into what clients see.

use crate::schema::{
    accounts, activities, fills, funding_events, journal_postings, orders, positions, trade_events, users,
};
use brokerage_domain::accounts::{Account, AccountStatus, Activity, ActivityKind, TradeDetails};
use brokerage_domain::ledger::Posting;
use brokerage_domain::market::Symbol;
use brokerage_domain::orders::{
    ClientOrderId, EventKind, Execution, FillDetails, Order, OrderStatus, OrderType, Side, TimeInForce, TradeEvent,
};
use brokerage_domain::positions::{Lot, Position};
use brokerage_domain::users::{Email, Role, User, UserStatus};
use brokerage_domain::{AccountId, ActivityId, Amount, InfraError, Money, OrderId, Price, Quantity, UserId};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use rust_decimal::Decimal;
use std::fmt::Display;
use uuid::Uuid;

/// Names the row being converted, for error messages.
struct Ctx {
    table: &'static str,
    key: String,
}

impl Ctx {
    fn new(table: &'static str, key: impl Display) -> Self {
        Self { table, key: key.to_string() }
    }

    fn err(&self, field: &str, why: impl Display) -> InfraError {
        InfraError::Unknown(anyhow::anyhow!("{} row {} has an invalid {field}: {why}", self.table, self.key))
    }

    /// Parses a text column into a domain enum or value.
    fn parse<T>(&self, field: &str, raw: &str, parse: impl FnOnce(&str) -> Option<T>) -> Result<T, InfraError> {
        parse(raw).ok_or_else(|| self.err(field, format_args!("{raw:?}")))
    }

    /// Checks a decoded value with a domain constructor.
    fn check<T, E: Display>(&self, field: &str, value: Result<T, E>) -> Result<T, InfraError> {
        value.map_err(|e| self.err(field, e))
    }

    fn opt<T, E: Display>(
        &self,
        field: &str,
        raw: Option<Decimal>,
        make: impl FnOnce(Decimal) -> Result<T, E>,
    ) -> Result<Option<T>, InfraError> {
        raw.map(|v| self.check(field, make(v))).transpose()
    }
}

// ---------------------------------------------------------------------------------- users

#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = users, check_for_backend(diesel::pg::Pg))]
pub(crate) struct UserRow {
    pub id: Uuid,
    pub email: String,
    pub role: String,
    pub status: String,
    pub totp_enabled: bool,
    pub created_at: DateTime<Utc>,
}

impl UserRow {
    pub fn into_domain(self) -> Result<User, InfraError> {
        let ctx = Ctx::new("users", self.id);
        Ok(User {
            id: UserId::from_uuid(self.id),
            email: ctx.check("email", Email::parse(&self.email))?,
            role: ctx.parse("role", &self.role, Role::parse)?,
            status: ctx.parse("status", &self.status, UserStatus::parse)?,
            totp_enabled: self.totp_enabled,
            created_at: self.created_at,
        })
    }
}

#[derive(Debug, Insertable)]
#[diesel(table_name = users)]
pub(crate) struct NewUserRow<'a> {
    pub id: Uuid,
    pub email: &'a str,
    pub password_hash: &'a str,
    pub role: &'static str,
    pub status: &'static str,
    pub totp_enabled: bool,
    pub created_at: DateTime<Utc>,
}

// ------------------------------------------------------------------------------- accounts

#[derive(Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = accounts, check_for_backend(diesel::pg::Pg))]
pub(crate) struct AccountRow {
    pub id: Uuid,
    pub user_id: Uuid,
    pub currency: String,
    pub cash: Decimal,
    pub held: Decimal,
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub event_seq: i64,
}

impl AccountRow {
    pub fn into_domain(self) -> Result<Account, InfraError> {
        let ctx = Ctx::new("accounts", self.id);
        if self.currency != Account::CURRENCY {
            return Err(ctx.err("currency", format_args!("{:?}", self.currency)));
        }
        Ok(Account {
            id: AccountId::from_uuid(self.id),
            user_id: UserId::from_uuid(self.user_id),
            currency: Account::CURRENCY,
            cash: ctx.check("cash", Money::new(self.cash))?,
            held: ctx.check("held", Money::new(self.held))?,
            status: ctx.parse("status", &self.status, AccountStatus::parse)?,
            created_at: self.created_at,
            event_seq: ctx.check("event_seq", u64::try_from(self.event_seq))?,
        })
    }
}

impl From<&Account> for AccountRow {
    fn from(a: &Account) -> Self {
        Self {
            id: a.id.into(),
            user_id: a.user_id.into(),
            currency: a.currency.to_owned(),
            cash: a.cash.get(),
            held: a.held.get(),
            status: a.status.as_str().to_owned(),
            created_at: a.created_at,
            event_seq: db_seq(a.event_seq),
        }
    }
}

// --------------------------------------------------------------------------------- orders

#[derive(Debug, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = orders, check_for_backend(diesel::pg::Pg), treat_none_as_null = true)]
pub(crate) struct OrderRow {
    pub id: Uuid,
    pub account_id: Uuid,
    pub client_order_id: Option<String>,
    pub symbol: String,
    pub side: String,
    pub order_type: String,
    pub time_in_force: String,
    pub qty: Decimal,
    pub notional: Option<Decimal>,
    pub limit_price: Option<Decimal>,
    pub stop_price: Option<Decimal>,
    pub trail_percent: Option<Decimal>,
    pub status: String,
    pub filled_qty: Decimal,
    pub filled_avg_price: Option<Decimal>,
    pub held_cash: Decimal,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub submitted_at: DateTime<Utc>,
    pub filled_at: Option<DateTime<Utc>>,
    pub canceled_at: Option<DateTime<Utc>>,
    pub expired_at: Option<DateTime<Utc>>,
    pub replaced_by: Option<Uuid>,
    pub replaces: Option<Uuid>,
    pub hwm: Option<Decimal>,
    pub triggered_at: Option<DateTime<Utc>>,
    pub fill_seq: i32,
}

impl OrderRow {
    pub fn into_domain(self) -> Result<Order, InfraError> {
        let ctx = Ctx::new("orders", self.id);
        let client_order_id = self
            .client_order_id
            .as_deref()
            .map(|raw| ctx.parse("client_order_id", raw, ClientOrderId::parse))
            .transpose()?;
        Ok(Order {
            id: OrderId::from_uuid(self.id),
            account_id: AccountId::from_uuid(self.account_id),
            client_order_id,
            symbol: ctx.check("symbol", Symbol::parse(&self.symbol))?,
            side: ctx.parse("side", &self.side, Side::parse)?,
            order_type: ctx.parse("order_type", &self.order_type, OrderType::parse)?,
            time_in_force: ctx.parse("time_in_force", &self.time_in_force, TimeInForce::parse)?,
            qty: ctx.check("qty", Quantity::new(self.qty))?,
            notional: ctx.opt("notional", self.notional, Amount::new)?,
            limit_price: ctx.opt("limit_price", self.limit_price, Price::new)?,
            stop_price: ctx.opt("stop_price", self.stop_price, Price::new)?,
            trail_percent: self.trail_percent.map(|t| t.normalize()),
            status: ctx.parse("status", &self.status, OrderStatus::parse)?,
            filled_qty: self.filled_qty.normalize(),
            filled_avg_price: self.filled_avg_price.map(|p| p.normalize()),
            held_cash: ctx.check("held_cash", Money::new(self.held_cash))?,
            created_at: self.created_at,
            updated_at: self.updated_at,
            submitted_at: self.submitted_at,
            filled_at: self.filled_at,
            canceled_at: self.canceled_at,
            expired_at: self.expired_at,
            replaced_by: self.replaced_by.map(OrderId::from_uuid),
            replaces: self.replaces.map(OrderId::from_uuid),
            hwm: ctx.opt("hwm", self.hwm, Price::new)?,
            triggered_at: self.triggered_at,
            fill_seq: ctx.check("fill_seq", u32::try_from(self.fill_seq))?,
            // Kept in `request_keys`, not on the order.
            request_key: None,
        })
    }
}

impl From<&Order> for OrderRow {
    fn from(o: &Order) -> Self {
        Self {
            id: o.id.into(),
            account_id: o.account_id.into(),
            client_order_id: o.client_order_id.as_ref().map(|c| c.as_str().to_owned()),
            symbol: o.symbol.as_str().to_owned(),
            side: o.side.as_str().to_owned(),
            order_type: o.order_type.as_str().to_owned(),
            time_in_force: o.time_in_force.as_str().to_owned(),
            qty: o.qty.get(),
            notional: o.notional.map(|n| n.get()),
            limit_price: o.limit_price.map(|p| p.get()),
            stop_price: o.stop_price.map(|p| p.get()),
            trail_percent: o.trail_percent,
            status: o.status.as_str().to_owned(),
            filled_qty: o.filled_qty,
            filled_avg_price: o.filled_avg_price,
            held_cash: o.held_cash.get(),
            created_at: o.created_at,
            updated_at: o.updated_at,
            submitted_at: o.submitted_at,
            filled_at: o.filled_at,
            canceled_at: o.canceled_at,
            expired_at: o.expired_at,
            replaced_by: o.replaced_by.map(Uuid::from),
            replaces: o.replaces.map(Uuid::from),
            hwm: o.hwm.map(|p| p.get()),
            triggered_at: o.triggered_at,
            fill_seq: db_fill_seq(o.fill_seq),
        }
    }
}

// ------------------------------------------------------------------------------ positions

#[derive(Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = positions, check_for_backend(diesel::pg::Pg))]
pub(crate) struct PositionRow {
    pub account_id: Uuid,
    pub symbol: String,
    pub qty: Decimal,
    pub held: Decimal,
    pub cost_basis: Decimal,
    pub updated_at: DateTime<Utc>,
    pub lot_qty: Vec<Decimal>,
    pub lot_cost: Vec<Decimal>,
}

impl PositionRow {
    pub fn into_domain(self) -> Result<Position, InfraError> {
        let ctx = Ctx::new("positions", format_args!("({}, {})", self.account_id, self.symbol));
        if self.lot_qty.len() != self.lot_cost.len() {
            return Err(ctx.err("lots", "lot_qty and lot_cost differ in length"));
        }
        let lots = self
            .lot_qty
            .iter()
            .zip(&self.lot_cost)
            .map(|(qty, cost)| Ok(Lot { qty: qty.normalize(), cost: ctx.check("lot_cost", Money::new(*cost))? }))
            .collect::<Result<Vec<_>, InfraError>>()?;
        Ok(Position {
            account_id: AccountId::from_uuid(self.account_id),
            symbol: ctx.check("symbol", Symbol::parse(&self.symbol))?,
            qty: self.qty.normalize(),
            held: self.held.normalize(),
            cost_basis: ctx.check("cost_basis", Money::new(self.cost_basis))?,
            lots,
        })
    }

    pub fn new(p: &Position, updated_at: DateTime<Utc>) -> Self {
        Self {
            account_id: p.account_id.into(),
            symbol: p.symbol.as_str().to_owned(),
            qty: p.qty,
            held: p.held,
            cost_basis: p.cost_basis.get(),
            updated_at,
            lot_qty: p.lots.iter().map(|l| l.qty).collect(),
            lot_cost: p.lots.iter().map(|l| l.cost.get()).collect(),
        }
    }
}

// ----------------------------------------------------------------------------- activities

#[derive(Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = activities, check_for_backend(diesel::pg::Pg))]
pub(crate) struct ActivityRow {
    pub id: Uuid,
    pub account_id: Uuid,
    pub kind: String,
    pub amount: Decimal,
    pub order_id: Option<Uuid>,
    pub symbol: Option<String>,
    pub side: Option<String>,
    pub qty: Option<Decimal>,
    pub price: Option<Decimal>,
    pub created_at: DateTime<Utc>,
    pub realized_pl: Option<Decimal>,
}

impl ActivityRow {
    pub fn into_domain(self) -> Result<Activity, InfraError> {
        let ctx = Ctx::new("activities", self.id);
        // The trade columns are all set (a fill) or all null (cash movements).
        let trade = match (self.order_id, self.symbol, self.side, self.qty, self.price) {
            (None, None, None, None, None) => None,
            (Some(order_id), Some(symbol), Some(side), Some(qty), Some(price)) => Some(TradeDetails {
                order_id: OrderId::from_uuid(order_id),
                symbol: ctx.check("symbol", Symbol::parse(&symbol))?,
                side: ctx.parse("side", &side, Side::parse)?,
                qty: ctx.check("qty", Quantity::new(qty))?,
                price: ctx.check("price", Price::new(price))?,
                realized_pl: ctx.opt("realized_pl", self.realized_pl, Money::new)?,
            }),
            _ => return Err(ctx.err("trade", "some trade columns are set and others are null")),
        };
        Ok(Activity {
            id: ActivityId::from_uuid(self.id),
            account_id: AccountId::from_uuid(self.account_id),
            kind: ctx.parse("kind", &self.kind, ActivityKind::parse)?,
            amount: ctx.check("amount", Money::new(self.amount))?,
            trade,
            created_at: self.created_at,
            // Kept in `request_keys`, not on the activity.
            request_key: None,
        })
    }
}

impl From<&Activity> for ActivityRow {
    fn from(a: &Activity) -> Self {
        let trade = a.trade.as_ref();
        Self {
            id: a.id.into(),
            account_id: a.account_id.into(),
            kind: a.kind.as_str().to_owned(),
            amount: a.amount.get(),
            order_id: trade.map(|t| t.order_id.into()),
            symbol: trade.map(|t| t.symbol.as_str().to_owned()),
            side: trade.map(|t| t.side.as_str().to_owned()),
            qty: trade.map(|t| t.qty.get()),
            price: trade.map(|t| t.price.get()),
            created_at: a.created_at,
            realized_pl: trade.and_then(|t| t.realized_pl).map(|m| m.get()),
        }
    }
}

/// A cursor as stored (`bigint`); cursors count events, so they never reach `i64::MAX`.
pub(crate) fn db_seq(seq: u64) -> i64 {
    i64::try_from(seq).unwrap_or(i64::MAX)
}

/// A fill counter as stored (`integer`); every fill moves a positive quantity of a bounded
/// order, so the counter never comes near `i32::MAX` (the CHECKs and the audit would notice).
fn db_fill_seq(seq: u32) -> i32 {
    i32::try_from(seq).unwrap_or(i32::MAX)
}

// ---------------------------------------------------------------------------------- fills

#[derive(Debug, Insertable)]
#[diesel(table_name = fills)]
pub(crate) struct FillRow {
    pub order_id: Uuid,
    pub seq: i32,
    pub account_id: Uuid,
    pub qty: Decimal,
    pub price: Decimal,
    pub activity_id: Uuid,
    pub created_at: DateTime<Utc>,
}

impl FillRow {
    pub fn new(e: &Execution, account: AccountId) -> Self {
        Self {
            order_id: e.order_id.into(),
            seq: db_fill_seq(e.seq),
            account_id: account.into(),
            qty: e.qty.get(),
            price: e.price.get(),
            activity_id: e.activity_id.into(),
            created_at: e.at,
        }
    }
}

// ------------------------------------------------------------------------ journal postings

#[derive(Debug, Insertable)]
#[diesel(table_name = journal_postings)]
pub(crate) struct PostingRow {
    pub activity_id: Uuid,
    pub leg: i16,
    pub book: &'static str,
    pub account_id: Option<Uuid>,
    pub asset: String,
    pub amount: Decimal,
    pub created_at: DateTime<Utc>,
}

impl PostingRow {
    /// The journal entry of `activity`, legs numbered from 1 in `ledger::postings` order.
    pub fn entry(activity: &Activity) -> impl Iterator<Item = PostingRow> + '_ {
        brokerage_domain::ledger::postings(activity).into_iter().zip(1_i16..).map(|(p, leg): (Posting, i16)| {
            PostingRow {
                activity_id: activity.id.into(),
                leg,
                book: p.account.book(),
                account_id: p.account.customer().map(Uuid::from),
                asset: p.asset.code().to_owned(),
                amount: p.amount,
                created_at: activity.created_at,
            }
        })
    }
}

// ---------------------------------------------------------------------------- trade events

/// An event as stored: the order's changing state as it stood after the change; its fixed
/// fields are read back from `orders`.
#[derive(Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = trade_events, check_for_backend(diesel::pg::Pg))]
pub(crate) struct TradeEventRow {
    pub account_id: Uuid,
    pub seq: i64,
    pub kind: String,
    pub order_id: Uuid,
    pub status: String,
    pub filled_qty: Decimal,
    pub filled_avg_price: Option<Decimal>,
    pub held_cash: Decimal,
    pub stop_price: Option<Decimal>,
    pub hwm: Option<Decimal>,
    pub triggered_at: Option<DateTime<Utc>>,
    pub fill_seq: i32,
    pub filled_at: Option<DateTime<Utc>>,
    pub canceled_at: Option<DateTime<Utc>>,
    pub expired_at: Option<DateTime<Utc>>,
    pub replaced_by: Option<Uuid>,
    pub updated_at: DateTime<Utc>,
    pub fill_qty: Option<Decimal>,
    pub fill_price: Option<Decimal>,
    pub created_at: DateTime<Utc>,
}

impl From<&TradeEvent> for TradeEventRow {
    fn from(e: &TradeEvent) -> Self {
        let o = &e.order;
        Self {
            account_id: e.account_id.into(),
            seq: db_seq(e.seq),
            kind: e.kind.as_str().to_owned(),
            order_id: o.id.into(),
            status: o.status.as_str().to_owned(),
            filled_qty: o.filled_qty,
            filled_avg_price: o.filled_avg_price,
            held_cash: o.held_cash.get(),
            stop_price: o.stop_price.map(|p| p.get()),
            hwm: o.hwm.map(|p| p.get()),
            triggered_at: o.triggered_at,
            fill_seq: db_fill_seq(o.fill_seq),
            filled_at: o.filled_at,
            canceled_at: o.canceled_at,
            expired_at: o.expired_at,
            replaced_by: o.replaced_by.map(Uuid::from),
            updated_at: o.updated_at,
            fill_qty: e.fill.map(|f| f.qty.get()),
            fill_price: e.fill.map(|f| f.price.get()),
            created_at: e.at,
        }
    }
}

impl TradeEventRow {
    /// The event, its order rebuilt from the order's row (`order`) and this snapshot.
    pub fn into_domain(self, order: OrderRow) -> Result<TradeEvent, InfraError> {
        let ctx = Ctx::new("trade_events", format_args!("({}, {})", self.account_id, self.seq));
        let mut o = order.into_domain()?;
        o.status = ctx.parse("status", &self.status, OrderStatus::parse)?;
        o.filled_qty = self.filled_qty.normalize();
        o.filled_avg_price = self.filled_avg_price.map(|p| p.normalize());
        o.held_cash = ctx.check("held_cash", Money::new(self.held_cash))?;
        o.stop_price = ctx.opt("stop_price", self.stop_price, Price::new)?;
        o.hwm = ctx.opt("hwm", self.hwm, Price::new)?;
        o.triggered_at = self.triggered_at;
        o.fill_seq = ctx.check("fill_seq", u32::try_from(self.fill_seq))?;
        o.filled_at = self.filled_at;
        o.canceled_at = self.canceled_at;
        o.expired_at = self.expired_at;
        o.replaced_by = self.replaced_by.map(OrderId::from_uuid);
        o.updated_at = self.updated_at;
        let fill = match (self.fill_qty, self.fill_price) {
            (None, None) => None,
            (Some(qty), Some(price)) => Some(FillDetails {
                qty: ctx.check("fill_qty", Quantity::new(qty))?,
                price: ctx.check("fill_price", Price::new(price))?,
            }),
            _ => return Err(ctx.err("fill", "fill_qty and fill_price must both be set or both null")),
        };
        Ok(TradeEvent {
            account_id: AccountId::from_uuid(self.account_id),
            seq: ctx.check("seq", u64::try_from(self.seq))?,
            kind: ctx.parse("kind", &self.kind, EventKind::parse)?,
            order: o,
            fill,
            at: self.created_at,
        })
    }
}

// -------------------------------------------------------------------------- funding events

#[derive(Debug, Insertable)]
#[diesel(table_name = funding_events)]
pub(crate) struct FundingEventRow<'a> {
    pub event_id: &'a str,
    pub account_id: Uuid,
    pub activity_id: Uuid,
    pub amount: Decimal,
    pub created_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn activity_row() -> ActivityRow {
        ActivityRow {
            id: Uuid::now_v7(),
            account_id: Uuid::now_v7(),
            kind: "fill".into(),
            amount: Decimal::new(-1001_0000, 4),
            order_id: Some(Uuid::now_v7()),
            symbol: Some("AAPL".into()),
            side: Some("buy".into()),
            qty: Some(Decimal::new(10_000_000_000, 9)),
            price: Some(Decimal::new(100_1000, 4)),
            created_at: Utc::now(),
            realized_pl: None,
        }
    }

    #[test]
    fn a_fill_row_round_trips_with_normalised_decimals() {
        let activity = activity_row().into_domain().expect("valid row");
        assert_eq!(activity.amount.to_string(), "-1001");
        let trade = activity.trade.as_ref().expect("a fill has its trade");
        assert_eq!((trade.qty.to_string(), trade.price.to_string()), ("10".into(), "100.1".into()));
        let back = ActivityRow::from(&activity);
        assert_eq!(back.into_domain().expect("valid row"), activity);
    }

    #[test]
    fn a_row_the_domain_cannot_hold_is_an_error_naming_table_and_field() {
        let mut half = activity_row();
        half.price = None;
        let err = half.into_domain().expect_err("half a trade");
        assert!(matches!(err, InfraError::Unknown(_)));
        assert!(format!("{:#}", anyhow::Error::from(err)).contains("activities row"));

        let mut bad_kind = activity_row();
        bad_kind.kind = "gift".into();
        let err = bad_kind.into_domain().expect_err("unknown kind");
        let InfraError::Unknown(cause) = err else { panic!("expected Unknown") };
        assert!(cause.to_string().contains("invalid kind: \"gift\""), "{cause}");
    }
}
