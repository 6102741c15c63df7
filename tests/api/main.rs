//! The end-to-end API suite. Every scenario runs twice: on the memory adapters and on
//! Postgres + Redis (`postgres::…` tests; `make test` provides the servers).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod scenarios;
mod workspace;

macro_rules! on_every_backend {
    ($($scenario:ident),+ $(,)?) => {
        mod memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    let app = brokerage_e2e::TestApp::spawn(brokerage_e2e::Backend::Memory).await;
                    super::scenarios::$scenario(&app).await;
                    app.stop().await;
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    let app = brokerage_e2e::TestApp::spawn(brokerage_e2e::Backend::Postgres).await;
                    super::scenarios::$scenario(&app).await;
                    app.stop().await;
                }
            )+
        }
    };
}

on_every_backend!(
    register_login_deposit_buy_sell_and_read_the_ledger,
    limit_order_rests_holds_cash_and_cancel_returns_it,
    concurrent_market_buys_never_overspend_cash,
    another_customers_order_is_not_found,
    validation_errors_name_the_fields,
    authentication_failures_use_the_envelope,
    business_rule_rejections,
    orders_and_activities_paginate_newest_first,
    market_data_and_health,
);
