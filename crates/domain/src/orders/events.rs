//! Trade updates: one event per change of an order, written in the same atomic step as the
//! change (the outbox), numbered per account, streamed to clients (SSE) and webhooks.

use super::models::{Order, OrderStatus};
use crate::ids::AccountId;
use crate::values::{Price, Quantity};
use chrono::{DateTime, Utc};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    New,
    Fill,
    PartialFill,
    Canceled,
    Expired,
    Replaced,
    Rejected,
}

impl EventKind {
    pub const ALL: [EventKind; 7] = [
        EventKind::New,
        EventKind::Fill,
        EventKind::PartialFill,
        EventKind::Canceled,
        EventKind::Expired,
        EventKind::Replaced,
        EventKind::Rejected,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            EventKind::New => "new",
            EventKind::Fill => "fill",
            EventKind::PartialFill => "partial_fill",
            EventKind::Canceled => "canceled",
            EventKind::Expired => "expired",
            EventKind::Replaced => "replaced",
            EventKind::Rejected => "rejected",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == raw)
    }

    /// The event a close into `status` publishes.
    pub const fn closing(status: OrderStatus) -> Self {
        match status {
            OrderStatus::Canceled => EventKind::Canceled,
            OrderStatus::Expired => EventKind::Expired,
            OrderStatus::Replaced => EventKind::Replaced,
            OrderStatus::Rejected => EventKind::Rejected,
            OrderStatus::Filled => EventKind::Fill,
            OrderStatus::PartiallyFilled => EventKind::PartialFill,
            OrderStatus::New => EventKind::New,
        }
    }
}

/// The execution an event reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FillDetails {
    pub qty: Quantity,
    pub price: Price,
}

/// One trade update. `seq` is the account's event cursor (1, 2, 3, … with no gaps).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TradeEvent {
    pub account_id: AccountId,
    pub seq: u64,
    pub kind: EventKind,
    /// The order as it stood right after the change.
    pub order: Order,
    pub fill: Option<FillDetails>,
    pub at: DateTime<Utc>,
}
