//! The engine's candidate filter never hides an order the engine would act on: for any open
//! order, quote and instant, when `triggers::evaluate` would trade or move the order, or the
//! order's session is over, `Candidates::may_act` selects it. (The store's SQL version is
//! held to `may_act` in `crates/postgres/tests/store/engine.rs`.)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use brokerage_domain::market::{MarketHours, Quote, Symbol};
use brokerage_domain::orders::triggers::{Evaluation, evaluate, past_session};
use brokerage_domain::orders::{Candidates, Order, OrderType, Side, TimeInForce};
use brokerage_domain::{AccountId, OrderId, Price, Quantity};
use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use proptest::prelude::*;
use rust_decimal::Decimal;
use uuid::Uuid;

fn price(cents: u32) -> Price {
    Price::new(Decimal::new(i64::from(cents), 2)).unwrap()
}

#[derive(Debug, Clone)]
struct Case {
    buy: bool,
    kind: u8,
    day: bool,
    limit: u32,
    stop: u32,
    trail: u32,
    hwm: Option<u32>,
    armed: bool,
    submitted_min: i64,
    now_min: i64,
    bid: u32,
    spread: u32,
}

fn case() -> impl Strategy<Value = Case> {
    (
        (any::<bool>(), 0u8..5, any::<bool>(), 9_000u32..11_000, 9_000u32..11_000, 1u32..1_000),
        (prop::option::of(9_000u32..11_000), any::<bool>(), 0i64..20_000, 0i64..20_000, 9_000u32..11_000, 0u32..50),
    )
        .prop_map(|((buy, kind, day, limit, stop, trail), (hwm, armed, submitted_min, later, bid, spread))| Case {
            buy,
            kind,
            day,
            limit,
            stop,
            trail,
            hwm,
            armed,
            submitted_min,
            now_min: submitted_min + later,
            bid,
            spread,
        })
}

fn start() -> DateTime<Utc> {
    Utc.from_utc_datetime(&NaiveDate::from_ymd_opt(2026, 11, 20).unwrap().and_hms_opt(0, 0, 0).unwrap())
}

fn order(c: &Case) -> Order {
    let order_type =
        [OrderType::Market, OrderType::Limit, OrderType::Stop, OrderType::StopLimit, OrderType::TrailingStop]
            [usize::from(c.kind)];
    let mut o = Order::submitted(
        OrderId::from_uuid(Uuid::now_v7()),
        AccountId::from_uuid(Uuid::now_v7()),
        Symbol::parse("AAPL").unwrap(),
        if c.buy { Side::Buy } else { Side::Sell },
        order_type,
        if c.day { TimeInForce::Day } else { TimeInForce::Gtc },
        Quantity::new(Decimal::ONE).unwrap(),
        start() + Duration::minutes(c.submitted_min),
    );
    match order_type {
        OrderType::Market => {}
        OrderType::Limit => o.limit_price = Some(price(c.limit)),
        OrderType::Stop => o.stop_price = Some(price(c.stop)),
        OrderType::StopLimit => {
            (o.limit_price, o.stop_price) = (Some(price(c.limit)), Some(price(c.stop)));
            o.triggered_at = c.armed.then_some(o.submitted_at);
        }
        OrderType::TrailingStop => {
            o.trail_percent = Some(Decimal::new(i64::from(c.trail), 2));
            o.hwm = c.hwm.map(price);
        }
    }
    o
}

fn quote(c: &Case, at: DateTime<Utc>) -> Quote {
    Quote {
        symbol: Symbol::parse("AAPL").unwrap(),
        price: price(c.bid),
        bid: price(c.bid),
        ask: price(c.bid + c.spread),
        as_of: at,
        source: "test",
        stale: false,
        max_age: None,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2_000, ..ProptestConfig::default() })]

    #[test]
    fn candidates_never_hide_an_order_the_engine_would_act_on(c in case()) {
        let hours = MarketHours::regular(vec![NaiveDate::from_ymd_opt(2026, 11, 26).unwrap()]);
        let o = order(&c);
        let now = start() + Duration::minutes(c.now_min);
        let q = quote(&c, now);
        let with_quote = Candidates::new(Some(&q), hours.last_close(now));
        if evaluate(&o, &q, now) != Evaluation::Hold {
            prop_assert!(with_quote.may_act(&o), "evaluate acts on {:?} at {:?}", o, q);
        }
        if past_session(&hours, &o, now) {
            prop_assert!(with_quote.may_act(&o), "{:?} expires at {}", o, now);
            prop_assert!(Candidates::new(None, hours.last_close(now)).may_act(&o), "expires without a quote too");
        }
        // The always-open market never expires anything.
        prop_assert!(!past_session(&MarketHours::always_open(), &o, now));
    }
}

#[test]
fn a_resting_limit_far_from_the_touch_is_not_a_candidate() {
    let c = Case {
        buy: true,
        kind: 1,
        day: false,
        limit: 100,
        stop: 0,
        trail: 0,
        hwm: None,
        armed: false,
        submitted_min: 0,
        now_min: 10,
        bid: 10_000,
        spread: 5,
    };
    let o = order(&c);
    let q = quote(&c, start());
    assert!(!Candidates::new(Some(&q), None).may_act(&o), "a 1.00 bid when the ask is 100.05");
    assert!(!Candidates::new(None, None).may_act(&o), "no quote, nothing to expire");
}
