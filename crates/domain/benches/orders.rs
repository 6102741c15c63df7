//! Criterion micro-benchmarks of the pure order hot paths: request validation and order
//! construction (`OrderSpec::parse` + `Order::submitted`), and settlement (`reserve` + `fill`)
//! on in-memory rows, the work `OrderStore::place` does between its `SELECT … FOR UPDATE`s
//! and its writes. Run by `make bench` (scripts/bench/run.sh) with a short measurement time.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use brokerage_domain::accounts::Account;
use brokerage_domain::market::Symbol;
use brokerage_domain::orders::settlement::{self, Fill};
use brokerage_domain::orders::{Order, OrderInput, OrderSpec, OrderType, Side, Size, TimeInForce};
use brokerage_domain::positions::Position;
use brokerage_domain::{AccountId, ActivityId, Money, OrderId, Price, Quantity, UserId};
use chrono::Utc;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use rust_decimal::Decimal;
use std::hint::black_box;
use uuid::Uuid;

/// What `POST /api/v1/orders` sends in the load benchmark: a limit buy far below the market.
fn input() -> OrderInput {
    OrderInput {
        symbol: "AAPL".into(),
        side: Side::Buy,
        order_type: OrderType::Limit,
        time_in_force: TimeInForce::Gtc,
        qty: Some(Decimal::new(1, 0)),
        notional: None,
        limit_price: Some(Decimal::new(100, 2)),
        stop_price: None,
        trail_percent: None,
        client_order_id: None,
    }
}

fn parse_and_build(c: &mut Criterion) {
    let account = AccountId::from_uuid(Uuid::now_v7());
    let now = Utc::now();
    c.bench_function("order_parse_and_submit", |b| {
        b.iter_batched(
            input,
            |input| {
                let spec = OrderSpec::parse(input).expect("valid order");
                let qty = match spec.size {
                    Size::Qty(q) => q,
                    Size::Notional(_) => unreachable!("the bench sends qty"),
                };
                let mut order = Order::submitted(
                    OrderId::from_uuid(Uuid::now_v7()),
                    black_box(account),
                    spec.symbol,
                    spec.side,
                    spec.order_type,
                    spec.time_in_force,
                    qty,
                    now,
                );
                order.limit_price = spec.limit_price;
                order
            },
            BatchSize::SmallInput,
        );
    });
}

fn settlement_fill(c: &mut Criterion) {
    let now = Utc::now();
    let account_id = AccountId::from_uuid(Uuid::now_v7());
    let mut account = Account::open(account_id, UserId::from_uuid(Uuid::now_v7()), now);
    account.move_cash(Money::new(Decimal::new(1_000_000, 0)).expect("money")).expect("deposit");
    let symbol = Symbol::parse("AAPL").expect("symbol");
    let position = Position::empty(account_id, symbol.clone());
    let qty = Quantity::new(Decimal::new(10, 0)).expect("qty");
    let price = Price::new(Decimal::new(2_195_000, 4)).expect("price");
    let order = Order::submitted(
        OrderId::from_uuid(Uuid::now_v7()),
        account_id,
        symbol,
        Side::Buy,
        OrderType::Market,
        TimeInForce::Day,
        qty,
        now,
    );
    let hold = Money::cost_of(qty.get(), Decimal::new(2_200_000, 4)).expect("hold");
    let fill = Fill {
        activity_id: ActivityId::from_uuid(Uuid::now_v7()),
        fee_activity_id: ActivityId::from_uuid(Uuid::now_v7()),
        qty,
        price,
        fee: Money::ZERO,
        at: now,
    };

    c.bench_function("settlement_reserve_fill", |b| {
        b.iter_batched(
            || (order.clone(), account.clone(), position.clone()),
            |(mut order, mut account, mut position)| {
                settlement::reserve(&mut order, &mut account, &mut position, black_box(hold)).expect("reserved");
                let activities =
                    settlement::fill(&mut order, &mut account, &mut position, black_box(&fill)).expect("filled");
                (order, account, position, activities)
            },
            BatchSize::SmallInput,
        );
    });
}

criterion_group!(benches, parse_and_build, settlement_fill);
criterion_main!(benches);
