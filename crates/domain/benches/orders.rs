//! Criterion micro-benchmarks of the pure order hot paths: request validation and order
//! construction (`OrderSpec::parse` + `Order::submitted`), and settlement (`reserve` + `fill`)
//! on in-memory rows, the work `OrderStore::place` does between its `SELECT … FOR UPDATE`s
//! and its writes; the execution engine's fill decision (`triggers::evaluate`) and a fill's
//! ledger posting (`ledger::postings`). Run by `make bench` (scripts/bench/run.sh) with a short measurement time.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use brokerage_domain::accounts::{Account, Activity, ActivityKind, TradeDetails};
use brokerage_domain::ledger;
use brokerage_domain::market::{Quote, Symbol};
use brokerage_domain::orders::settlement::{self, Fill};
use brokerage_domain::orders::triggers;
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

/// The execution engine's decision for one resting order at one quote (a trailing stop: the
/// costliest rule, it moves its mark), and the journal entry of a fill (ledger posting).
fn fill_decision_and_ledger_posting(c: &mut Criterion) {
    let now = Utc::now();
    let account_id = AccountId::from_uuid(Uuid::now_v7());
    let price = |cents: i64| Price::new(Decimal::new(cents, 2)).expect("price");
    let mut order = Order::submitted(
        OrderId::from_uuid(Uuid::now_v7()),
        account_id,
        Symbol::parse("AAPL").expect("symbol"),
        Side::Sell,
        OrderType::TrailingStop,
        TimeInForce::Gtc,
        Quantity::new(Decimal::new(10, 0)).expect("qty"),
        now,
    );
    order.trail_percent = Some(Decimal::new(5, 0));
    order.hwm = Some(price(20_000));
    let quote = Quote {
        symbol: order.symbol.clone(),
        price: price(20_100),
        bid: price(20_100),
        ask: price(20_102),
        as_of: now,
        source: "bench",
        stale: false,
        max_age: None,
    };
    c.bench_function("trigger_evaluate", |b| b.iter(|| triggers::evaluate(black_box(&order), black_box(&quote), now)));

    let activity = Activity {
        id: ActivityId::from_uuid(Uuid::now_v7()),
        account_id,
        kind: ActivityKind::Fill,
        amount: Money::new(Decimal::new(-219_500, 2)).expect("money"),
        trade: Some(TradeDetails {
            order_id: order.id,
            symbol: order.symbol.clone(),
            side: Side::Buy,
            qty: Quantity::new(Decimal::new(10, 0)).expect("qty"),
            price: price(21_950),
            realized_pl: None,
        }),
        created_at: now,
        request_key: None,
    };
    c.bench_function("ledger_postings", |b| {
        b.iter(|| {
            let lines = ledger::postings(black_box(&activity));
            assert!(ledger::is_balanced(&lines));
            lines
        })
    });
}

criterion_group!(benches, parse_and_build, settlement_fill, fill_decision_and_ledger_posting);
criterion_main!(benches);
