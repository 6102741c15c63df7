//! When a resting order trades: the execution engine asks [`evaluate`] for every open order
//! at every new quote. Buys trade at the ask, sells at the bid (the "touch").
//!
//! - limit: when the touch reaches the limit (a buy's ask at or below it, a sell's bid at
//!   or above it), at the touch, which is never worse than the limit;
//! - stop: when the touch reaches the stop (a buy's ask at or above it, a sell's bid at or
//!   below it), at the touch, like a market order;
//! - stop-limit: the stop arms it (`triggered_at`), then it trades as a limit order;
//! - trailing stop: the stop follows the best touch seen (`hwm`: the highest bid for a sell,
//!   the lowest ask for a buy) at `trail_percent` behind it, and triggers like a stop.

use super::models::{Order, OrderType, Side, TimeInForce};
use super::pricing::touch;
use crate::market::{MarketHours, Quote};
use crate::values::Price;
use chrono::{DateTime, Utc};
use rust_decimal::{Decimal, RoundingStrategy};

/// What a quote does to a resting order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Evaluation {
    /// Nothing changes.
    Hold,
    /// The order's trigger state moved (a trailing mark, an armed stop-limit) but it does not
    /// trade yet; the changed order is to be stored.
    Update(Box<Order>),
    /// Trade the remaining quantity at this price; the order carries any trigger change.
    Fill(Box<Order>, Price),
}

fn reached(side: Side, at: Price, stop: Price) -> bool {
    match side {
        Side::Buy => at >= stop,
        Side::Sell => at <= stop,
    }
}

fn marketable(side: Side, at: Price, limit: Price) -> bool {
    match side {
        Side::Buy => at <= limit,
        Side::Sell => at >= limit,
    }
}

/// The stop of a trailing order `trail_percent` behind its mark, rounded toward the mark
/// to the price scale (a sell's stop down, a buy's up).
pub fn trailing_stop(side: Side, mark: Price, trail_percent: Decimal) -> Option<Price> {
    let factor = match side {
        Side::Sell => Decimal::ONE - trail_percent / Decimal::ONE_HUNDRED,
        Side::Buy => Decimal::ONE + trail_percent / Decimal::ONE_HUNDRED,
    };
    let strategy = match side {
        Side::Sell => RoundingStrategy::ToZero,
        Side::Buy => RoundingStrategy::AwayFromZero,
    };
    Price::new((mark.get() * factor).round_dp_with_strategy(4, strategy)).ok()
}

/// Decides what `quote` does to the open `order` at `now`.
pub fn evaluate(order: &Order, quote: &Quote, now: DateTime<Utc>) -> Evaluation {
    let at = touch(order.side, quote);
    let mut next = order.clone();
    let fill = match order.order_type {
        OrderType::Market => true,
        OrderType::Limit => order.limit_price.is_some_and(|l| marketable(order.side, at, l)),
        OrderType::Stop => order.stop_price.is_some_and(|s| reached(order.side, at, s)),
        OrderType::StopLimit => {
            if next.triggered_at.is_none() && order.stop_price.is_some_and(|s| reached(order.side, at, s)) {
                next.triggered_at = Some(now);
            }
            next.triggered_at.is_some() && order.limit_price.is_some_and(|l| marketable(order.side, at, l))
        }
        OrderType::TrailingStop => {
            let better = |mark: Price| match order.side {
                Side::Sell => at > mark,
                Side::Buy => at < mark,
            };
            let mark = match order.hwm {
                Some(mark) if !better(mark) => mark,
                _ => at,
            };
            next.hwm = Some(mark);
            if let Some(t) = order.trail_percent {
                next.stop_price = trailing_stop(order.side, mark, t);
            }
            next.stop_price.is_some_and(|s| reached(order.side, at, s))
        }
    };
    if fill {
        if next.order_type == OrderType::Stop || next.order_type == OrderType::TrailingStop {
            next.triggered_at = Some(now);
        }
        Evaluation::Fill(Box::new(next), at)
    } else if next != *order {
        Evaluation::Update(Box::new(next))
    } else {
        Evaluation::Hold
    }
}

/// Whether `order` is a day order whose session has closed by `now` (it expires).
pub fn past_session(hours: &MarketHours, order: &Order, now: DateTime<Utc>) -> bool {
    order.time_in_force == TimeInForce::Day && hours.next_close(order.submitted_at).is_some_and(|close| close <= now)
}

/// The open orders one engine pass must look at: those the quote could trade or move, and
/// day orders whose session may be over. The store narrows the book with this before the
/// engine reads it (the order book can hold far more resting orders than a quote touches);
/// it may return more, never fewer — [`Candidates::may_act`] is the rule, and the store's
/// query must agree with it (the property tests hold the rule to [`evaluate`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidates {
    /// The touches the pass trades at, when it trades (a fresh quote, the session open).
    pub touch: Option<Touch>,
    /// Day orders submitted before this instant may be past their session (the latest
    /// session close at or before now); `None` when no day order can expire now.
    pub day_orders_before: Option<DateTime<Utc>>,
}

/// Where buys and sells trade now: the ask and the bid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Touch {
    pub ask: Price,
    pub bid: Price,
}

impl Candidates {
    pub fn new(quote: Option<&Quote>, day_orders_before: Option<DateTime<Utc>>) -> Self {
        Self { touch: quote.map(|q| Touch { ask: q.ask, bid: q.bid }), day_orders_before }
    }

    /// Whether this pass may change `order`: `false` only when [`evaluate`] at this touch
    /// holds it and it cannot be past its session.
    pub fn may_act(&self, order: &Order) -> bool {
        let expiring = order.time_in_force == TimeInForce::Day
            && self.day_orders_before.is_some_and(|cutoff| order.submitted_at < cutoff);
        expiring || self.touch.is_some_and(|t| t.may_trade_or_move(order))
    }
}

impl Touch {
    fn may_trade_or_move(&self, order: &Order) -> bool {
        let at = match order.side {
            Side::Buy => self.ask,
            Side::Sell => self.bid,
        };
        let limit_ok = || order.limit_price.is_some_and(|l| marketable(order.side, at, l));
        let stop_ok = || order.stop_price.is_some_and(|s| reached(order.side, at, s));
        match order.order_type {
            // Market orders trade at any quote; trailing marks move with every quote.
            OrderType::Market | OrderType::TrailingStop => true,
            OrderType::Limit => limit_ok(),
            OrderType::Stop => stop_ok(),
            OrderType::StopLimit if order.triggered_at.is_some() => limit_ok(),
            OrderType::StopLimit => stop_ok(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::orders::models::tests::{d, order, quote};

    fn p(s: &str) -> Price {
        Price::new(d(s)).expect("valid")
    }

    #[test]
    fn a_limit_buy_fills_when_the_ask_comes_down_to_it() {
        let o = order(Side::Buy, "1"); // limit 100
        assert_eq!(evaluate(&o, &quote("100.5", "101"), Utc::now()), Evaluation::Hold);
        assert!(matches!(evaluate(&o, &quote("99", "99.5"), Utc::now()), Evaluation::Fill(_, x) if x == p("99.5")));
    }

    #[test]
    fn a_stop_sell_triggers_when_the_bid_falls_to_the_stop() {
        let mut o = order(Side::Sell, "1");
        o.order_type = OrderType::Stop;
        o.limit_price = None;
        o.stop_price = Some(p("90"));
        assert_eq!(evaluate(&o, &quote("91", "91.2"), Utc::now()), Evaluation::Hold);
        assert!(matches!(evaluate(&o, &quote("89.9", "90"), Utc::now()), Evaluation::Fill(_, x) if x == p("89.9")));
    }

    #[test]
    fn a_stop_limit_arms_then_waits_for_its_limit() {
        let mut o = order(Side::Buy, "1");
        o.order_type = OrderType::StopLimit;
        o.stop_price = Some(p("105"));
        o.limit_price = Some(p("106"));
        let Evaluation::Update(armed) = evaluate(&o, &quote("106.5", "107"), Utc::now()) else {
            panic!("the stop arms the order without a fill above the limit")
        };
        assert!(armed.triggered_at.is_some());
        // Once armed, it trades as a limit even below the stop.
        assert!(
            matches!(evaluate(&armed, &quote("100", "100.2"), Utc::now()), Evaluation::Fill(_, x) if x == p("100.2"))
        );
        assert_eq!(evaluate(&o, &quote("100", "100.2"), Utc::now()), Evaluation::Hold);
    }

    #[test]
    fn a_trailing_stop_sell_follows_the_high_and_triggers_on_the_pullback() {
        let mut o = order(Side::Sell, "1");
        o.order_type = OrderType::TrailingStop;
        o.limit_price = None;
        o.trail_percent = Some(d("5"));
        o.hwm = Some(p("100"));
        let Evaluation::Update(up) = evaluate(&o, &quote("120", "120.1"), Utc::now()) else { panic!("new high") };
        assert_eq!((up.hwm, up.stop_price), (Some(p("120")), Some(p("114"))));
        // A dip that stays above the stop changes nothing: the mark never moves down.
        assert_eq!(evaluate(&up, &quote("115", "115.1"), Utc::now()), Evaluation::Hold);
        let Evaluation::Fill(filled, at) = evaluate(&up, &quote("113.9", "114"), Utc::now()) else { panic!("stop") };
        assert_eq!((at, filled.hwm), (p("113.9"), Some(p("120"))));
    }

    #[test]
    fn a_trailing_stop_buy_follows_the_low() {
        let mut o = order(Side::Buy, "1");
        o.order_type = OrderType::TrailingStop;
        o.limit_price = None;
        o.trail_percent = Some(d("10"));
        o.hwm = Some(p("100"));
        let Evaluation::Update(down) = evaluate(&o, &quote("79.9", "80"), Utc::now()) else { panic!("new low") };
        assert_eq!(down.stop_price, Some(p("88")));
        assert!(matches!(evaluate(&down, &quote("87.9", "88"), Utc::now()), Evaluation::Fill(_, x) if x == p("88")));
    }
}
