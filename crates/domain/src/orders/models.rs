use crate::ids::{AccountId, OrderId};
use crate::market::Symbol;
use crate::values::{Amount, Money, Price, Quantity};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    Buy,
    Sell,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OrderType {
    Market,
    Limit,
    Stop,
    StopLimit,
    TrailingStop,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimeInForce {
    Day,
    Gtc,
    Ioc,
    Fok,
}

/// An order's lifecycle. `New → PartiallyFilled → Filled`, or a close into `Canceled`,
/// `Expired`, `Rejected` or `Replaced`. A status never moves backward.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OrderStatus {
    New,
    PartiallyFilled,
    Filled,
    Canceled,
    Expired,
    Rejected,
    Replaced,
}

macro_rules! str_enum {
    ($ty:ty { $($variant:ident => $s:literal),+ $(,)? }) => {
        impl $ty {
            pub const ALL: &'static [$ty] = &[$(<$ty>::$variant),+];
            pub const fn as_str(self) -> &'static str {
                match self { $(<$ty>::$variant => $s),+ }
            }
            pub fn parse(raw: &str) -> Option<Self> {
                match raw { $($s => Some(<$ty>::$variant),)+ _ => None }
            }
        }
    };
}
str_enum!(Side { Buy => "buy", Sell => "sell" });
str_enum!(OrderType { Market => "market", Limit => "limit", Stop => "stop", StopLimit => "stop_limit", TrailingStop => "trailing_stop" });
str_enum!(TimeInForce { Day => "day", Gtc => "gtc", Ioc => "ioc", Fok => "fok" });
str_enum!(OrderStatus {
    New => "new", PartiallyFilled => "partially_filled", Filled => "filled", Canceled => "canceled",
    Expired => "expired", Rejected => "rejected", Replaced => "replaced",
});

impl OrderStatus {
    /// Open orders may still fill and still hold cash or shares.
    pub const fn is_open(self) -> bool {
        matches!(self, OrderStatus::New | OrderStatus::PartiallyFilled)
    }

    /// The one rule of the state machine: open orders move forward; closed ones never move.
    pub const fn can_become(self, next: OrderStatus) -> bool {
        match self {
            OrderStatus::New => !matches!(next, OrderStatus::New),
            OrderStatus::PartiallyFilled => !matches!(next, OrderStatus::New | OrderStatus::Rejected),
            _ => false,
        }
    }
}

/// A client's own id for an order: 1 to 128 printable ASCII characters, unique per account.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClientOrderId(String);

impl ClientOrderId {
    pub fn parse(raw: &str) -> Option<Self> {
        let ok = !raw.is_empty() && raw.len() <= 128 && raw.bytes().all(|b| b.is_ascii_graphic());
        ok.then(|| Self(raw.to_owned()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    /// The order is closed (filled, canceled, …) and cannot change any more.
    #[error("order is not open")]
    NotOpen,
    /// The fill would make the filled quantity exceed the ordered quantity.
    #[error("fill exceeds the order's remaining quantity")]
    Overfill,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    pub id: OrderId,
    pub account_id: AccountId,
    pub client_order_id: Option<ClientOrderId>,
    pub symbol: Symbol,
    pub side: Side,
    pub order_type: OrderType,
    pub time_in_force: TimeInForce,
    pub qty: Quantity,
    pub notional: Option<Amount>,
    pub limit_price: Option<Price>,
    pub stop_price: Option<Price>,
    pub trail_percent: Option<Decimal>,
    pub status: OrderStatus,
    pub filled_qty: Decimal,
    pub filled_avg_price: Option<Decimal>,
    /// Cash still reserved for this order (buys only; sells reserve their unfilled shares).
    pub held_cash: Money,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub submitted_at: DateTime<Utc>,
    pub filled_at: Option<DateTime<Utc>>,
    pub canceled_at: Option<DateTime<Utc>>,
    pub expired_at: Option<DateTime<Utc>>,
    pub replaced_by: Option<OrderId>,
    pub replaces: Option<OrderId>,
    /// Trailing stops: the best price seen since placement (highest bid for a sell, lowest ask
    /// for a buy); the stop trails it by `trail_percent`.
    pub hwm: Option<Price>,
    /// Stop and stop-limit orders: when the stop price was touched (a triggered stop-limit
    /// rests as a limit order).
    pub triggered_at: Option<DateTime<Utc>>,
    /// How many fills the order has had; fill `n` is stored under `(order id, n)` exactly once.
    pub fill_seq: u32,
    /// The `Idempotency-Key` of the request that placed it. Adapters keep it in a per-account
    /// index written in the same transaction as the order, so a request retried after a crash
    /// (when the answer may never have been recorded) finds the order instead of placing a
    /// second one. Not part of the order as read back.
    pub request_key: Option<String>,
}

impl Order {
    /// A new, unfilled order submitted at `at`; prices, notional and client id start empty
    /// and are set by the caller as its type needs.
    #[allow(clippy::too_many_arguments)]
    pub fn submitted(
        id: OrderId,
        account_id: AccountId,
        symbol: Symbol,
        side: Side,
        order_type: OrderType,
        time_in_force: TimeInForce,
        qty: Quantity,
        at: DateTime<Utc>,
    ) -> Self {
        Self {
            id,
            account_id,
            client_order_id: None,
            symbol,
            side,
            order_type,
            time_in_force,
            qty,
            notional: None,
            limit_price: None,
            stop_price: None,
            trail_percent: None,
            status: OrderStatus::New,
            filled_qty: Decimal::ZERO,
            filled_avg_price: None,
            held_cash: Money::ZERO,
            created_at: at,
            updated_at: at,
            submitted_at: at,
            filled_at: None,
            canceled_at: None,
            expired_at: None,
            replaced_by: None,
            replaces: None,
            hwm: None,
            triggered_at: None,
            fill_seq: 0,
            request_key: None,
        }
    }

    /// Shares not yet filled.
    pub fn remaining_qty(&self) -> Decimal {
        self.qty.get() - self.filled_qty
    }

    /// Records a fill of `qty` at `price`: the filled quantity never exceeds the order's,
    /// the average price is volume-weighted, the status moves forward only.
    pub fn apply_fill(&mut self, qty: Quantity, price: Price, at: DateTime<Utc>) -> Result<(), TransitionError> {
        if !self.status.is_open() {
            return Err(TransitionError::NotOpen);
        }
        let new_filled = self.filled_qty + qty.get();
        if new_filled > self.qty.get() {
            return Err(TransitionError::Overfill);
        }
        let previous_value = self.filled_avg_price.unwrap_or_default() * self.filled_qty;
        let avg = (previous_value + price.get() * qty.get()) / new_filled;
        self.filled_avg_price = Some(avg.round_dp(9).normalize());
        self.filled_qty = new_filled;
        self.fill_seq += 1;
        self.status = if new_filled == self.qty.get() { OrderStatus::Filled } else { OrderStatus::PartiallyFilled };
        if self.status == OrderStatus::Filled {
            self.filled_at = Some(at);
        }
        self.updated_at = at;
        Ok(())
    }

    /// Closes an open order without filling the rest (`Canceled`, `Expired`, `Rejected`,
    /// `Replaced`).
    pub fn close(&mut self, to: OrderStatus, at: DateTime<Utc>) -> Result<(), TransitionError> {
        if !self.status.is_open() || !self.status.can_become(to) || to.is_open() || to == OrderStatus::Filled {
            return Err(TransitionError::NotOpen);
        }
        self.status = to;
        match to {
            OrderStatus::Canceled => self.canceled_at = Some(at),
            OrderStatus::Expired => self.expired_at = Some(at),
            _ => {}
        }
        self.updated_at = at;
        Ok(())
    }
}

/// Which orders to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StatusFilter {
    #[default]
    Open,
    Closed,
    All,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrderFilter {
    pub status: StatusFilter,
    pub symbol: Option<Symbol>,
}

impl OrderFilter {
    pub fn matches(&self, order: &Order) -> bool {
        let status_ok = match self.status {
            StatusFilter::Open => order.status.is_open(),
            StatusFilter::Closed => !order.status.is_open(),
            StatusFilter::All => true,
        };
        status_ok && self.symbol.as_ref().is_none_or(|s| *s == order.symbol)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::str::FromStr;
    use uuid::Uuid;

    pub(crate) fn d(s: &str) -> Decimal {
        Decimal::from_str(s).expect("decimal literal")
    }

    /// A fresh AAPL quote with this bid and ask (the last price at the bid).
    pub(crate) fn quote(bid: &str, ask: &str) -> crate::market::Quote {
        crate::market::Quote {
            symbol: Symbol::parse("AAPL").expect("valid"),
            price: Price::new(d(bid)).expect("valid"),
            bid: Price::new(d(bid)).expect("valid"),
            ask: Price::new(d(ask)).expect("valid"),
            as_of: Utc::now(),
            source: "test",
            stale: false,
            max_age: None,
        }
    }

    pub(crate) fn order(side: Side, qty: &str) -> Order {
        let mut o = Order::submitted(
            OrderId::from_uuid(Uuid::now_v7()),
            AccountId::from_uuid(Uuid::now_v7()),
            Symbol::parse("AAPL").expect("valid"),
            side,
            OrderType::Limit,
            TimeInForce::Day,
            Quantity::new(d(qty)).expect("valid"),
            Utc::now(),
        );
        o.limit_price = Some(Price::new(d("100")).expect("valid"));
        o
    }

    fn q(s: &str) -> Quantity {
        Quantity::new(d(s)).expect("valid")
    }
    fn p(s: &str) -> Price {
        Price::new(d(s)).expect("valid")
    }

    #[test]
    fn partial_fills_average_the_price_and_never_exceed_qty() {
        let mut o = order(Side::Buy, "10");
        o.apply_fill(q("4"), p("100"), Utc::now()).expect("fits");
        assert_eq!(o.status, OrderStatus::PartiallyFilled);
        o.apply_fill(q("6"), p("105"), Utc::now()).expect("fits");
        assert_eq!((o.status, o.filled_qty, o.filled_avg_price), (OrderStatus::Filled, d("10"), Some(d("103"))));
        assert!(o.filled_at.is_some());
        assert_eq!(o.apply_fill(q("0.000000001"), p("1"), Utc::now()), Err(TransitionError::NotOpen));
    }

    #[test]
    fn an_overfill_is_refused_and_changes_nothing() {
        let mut o = order(Side::Sell, "1");
        let before = o.clone();
        assert_eq!(o.apply_fill(q("1.5"), p("10"), Utc::now()), Err(TransitionError::Overfill));
        assert_eq!(o, before);
    }

    #[test]
    fn closed_orders_never_move_again() {
        let mut o = order(Side::Buy, "1");
        o.close(OrderStatus::Canceled, Utc::now()).expect("open order cancels");
        assert!(o.canceled_at.is_some());
        for to in OrderStatus::ALL {
            assert!(!o.status.can_become(*to));
        }
        assert_eq!(o.close(OrderStatus::Expired, Utc::now()), Err(TransitionError::NotOpen));
    }

    #[test]
    fn no_status_moves_backward() {
        let rank = |s: OrderStatus| match s {
            OrderStatus::New => 0,
            OrderStatus::PartiallyFilled => 1,
            _ => 2,
        };
        for from in OrderStatus::ALL {
            for to in OrderStatus::ALL {
                if from.can_become(*to) {
                    assert!(rank(*to) >= rank(*from), "{from:?} -> {to:?}");
                    assert!(*to != OrderStatus::New);
                }
            }
        }
    }

    #[test]
    fn client_order_ids_are_bounded_printable_ascii() {
        assert!(ClientOrderId::parse("my-order-1").is_some());
        assert!(ClientOrderId::parse("").is_none());
        assert!(ClientOrderId::parse(&"x".repeat(129)).is_none());
        assert!(ClientOrderId::parse("with space").is_none());
        assert!(ClientOrderId::parse("nul\0").is_none());
    }
}
