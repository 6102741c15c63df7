//! Fuzzing the domain's parsers with proptest: arbitrary input never panics, and whatever
//! is accepted satisfies the type's promise. CI runs the default case count; a longer run:
//! `PROPTEST_CASES=200000 cargo test -p brokerage-domain --release --test parsers_fuzz`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use brokerage_domain::market::Symbol;
use brokerage_domain::orders::{ClientOrderId, OrderInput, OrderSpec, OrderType, Side, Size, TimeInForce};
use brokerage_domain::users::{Email, Password};
use brokerage_domain::{Amount, Money, Price, Quantity};
use proptest::prelude::*;
use rust_decimal::Decimal;

/// Decimals of every shape: huge, tiny, negative, many decimal places.
fn decimal() -> impl Strategy<Value = Decimal> {
    prop_oneof![
        (any::<i64>(), 0u32..=28).prop_map(|(m, s)| Decimal::new(m, s)),
        (any::<i128>(), 0u32..=28)
            .prop_map(|(m, s)| Decimal::try_from_i128_with_scale(m % 10i128.pow(28), s).unwrap_or_default()),
        Just(Decimal::MAX),
        Just(Decimal::MIN),
        Just(Decimal::ZERO),
        Just(-Decimal::ZERO),
    ]
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![any::<String>(), "[A-Za-z0-9 .\\-\\x00\\r\\n]{0,20}", "\\PC{0,300}"]
}

fn order_type() -> impl Strategy<Value = OrderType> {
    prop::sample::select(OrderType::ALL.to_vec())
}

fn tif() -> impl Strategy<Value = TimeInForce> {
    prop::sample::select(TimeInForce::ALL.to_vec())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2_000, ..ProptestConfig::default() })]

    #[test]
    fn values_accept_only_what_they_promise(raw in decimal()) {
        if let Ok(m) = Money::new(raw) { prop_assert!(m.get().scale() <= 4); }
        if let Ok(p) = Price::new(raw) { prop_assert!(p.get() > Decimal::ZERO && p.get().scale() <= 4); }
        if let Ok(q) = Quantity::new(raw) { prop_assert!(q.get() > Decimal::ZERO && q.get().scale() <= 9); }
        if let Ok(a) = Amount::new(raw) { prop_assert!(a.get() > Decimal::ZERO && a.get().scale() <= 4); }
        // Arithmetic on accepted values never panics (it may refuse).
        if let (Ok(q), Ok(p)) = (Quantity::new(raw), Price::new(raw)) {
            let _ = Money::cost_of(q.get(), p.get());
            let _ = Money::proceeds_of(q.get(), p.get());
        }
    }

    #[test]
    fn text_parsers_never_panic_and_accept_only_valid_shapes(raw in text()) {
        if let Ok(s) = Symbol::parse(&raw) {
            prop_assert!((1..=10).contains(&s.as_str().len()));
            prop_assert!(s.as_str().bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'.' || b == b'-'));
        }
        if let Some(c) = ClientOrderId::parse(&raw) {
            prop_assert!(c.as_str().len() <= 128 && c.as_str().bytes().all(|b| b.is_ascii_graphic()));
        }
        if let Ok(e) = Email::parse(&raw) {
            prop_assert!(!e.as_str().contains('\0') && e.as_str().contains('@'));
        }
        let _ = Password::new(raw);
    }

    #[test]
    fn order_requests_are_valid_or_name_their_fields(
        symbol in text(),
        buy in any::<bool>(),
        order_type in order_type(),
        time_in_force in tif(),
        qty in prop::option::of(decimal()),
        notional in prop::option::of(decimal()),
        limit_price in prop::option::of(decimal()),
        stop_price in prop::option::of(decimal()),
        trail_percent in prop::option::of(decimal()),
        client_order_id in prop::option::of(text()),
    ) {
        let input = OrderInput {
            symbol, side: if buy { Side::Buy } else { Side::Sell }, order_type, time_in_force,
            qty, notional, limit_price, stop_price, trail_percent, client_order_id,
        };
        match OrderSpec::parse(input) {
            Ok(spec) => {
                prop_assert_eq!(spec.limit_price.is_some(), matches!(order_type, OrderType::Limit | OrderType::StopLimit));
                prop_assert_eq!(spec.stop_price.is_some(), matches!(order_type, OrderType::Stop | OrderType::StopLimit));
                prop_assert_eq!(spec.trail_percent.is_some(), order_type == OrderType::TrailingStop);
                match spec.size {
                    Size::Qty(q) => prop_assert!(q.get() > Decimal::ZERO),
                    Size::Notional(n) => prop_assert!(n.get() > Decimal::ZERO),
                }
            }
            Err(fields) => {
                prop_assert!(!fields.is_empty());
                let known = ["symbol", "qty", "notional", "limit_price", "stop_price", "trail_percent", "time_in_force", "client_order_id"];
                prop_assert!(fields.iter().all(|f| known.contains(&f.field.as_str())), "{:?}", fields);
            }
        }
    }
}
