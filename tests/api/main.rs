//! The end-to-end API suite. Every scenario runs twice: on the memory adapters and on
//! Postgres + Redis (`postgres::…` tests; `make test` provides the servers).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod abuse;
mod events;
mod funding;
mod hardening;
mod idempotency;
mod identity;
mod market_clock;
mod market_data;
mod rbac;
mod scenarios;
mod trading;
mod webhooks;
mod workspace;

macro_rules! on_every_backend {
    ($($module:ident :: $scenario:ident),+ $(,)?) => {
        mod memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    let app = brokerage_e2e::TestApp::spawn(brokerage_e2e::Backend::Memory).await;
                    super::$module::$scenario(&app).await;
                    app.stop().await;
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    let app = brokerage_e2e::TestApp::spawn(brokerage_e2e::Backend::Postgres).await;
                    super::$module::$scenario(&app).await;
                    app.stop().await;
                }
            )+
        }
    };
}

/// Like `on_every_backend!` with settings of the group's own (`BROKERAGE__…` pairs): the tests
/// are `<group>::memory::<scenario>` and `<group>::postgres::<scenario>`.
macro_rules! on_every_backend_with {
    ($group:ident, $settings:expr; $($module:ident :: $scenario:ident),+ $(,)?) => {
        mod $group {
            mod memory {
                $(
                    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                    async fn $scenario() {
                        let app = brokerage_e2e::TestApp::spawn_with(brokerage_e2e::Backend::Memory, $settings).await;
                        crate::$module::$scenario(&app).await;
                        app.stop().await;
                    }
                )+
            }
            mod postgres {
                $(
                    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                    async fn $scenario() {
                        let app = brokerage_e2e::TestApp::spawn_with(brokerage_e2e::Backend::Postgres, $settings).await;
                        crate::$module::$scenario(&app).await;
                        app.stop().await;
                    }
                )+
            }
        }
    };
}

on_every_backend_with!(engine, brokerage_e2e::trading_settings();
    trading::a_replace_moves_the_hold_to_the_new_order,
    trading::the_engine_fills_resting_orders_once_triggered,
    trading::cancel_all_answers_one_entry_per_open_order,
    trading::the_portfolio_reports_realized_and_unrealized_pl,
    trading::positions_close_whole_by_qty_or_by_percentage,
    events::trade_updates_stream_live_and_resume_without_gap_or_duplicate,
);

on_every_backend_with!(fees, brokerage_e2e::fee_settings();
    trading::each_fill_books_its_commission,
    funding::a_signed_deposit_notice_credits_once,
    funding::bad_signatures_are_refused_and_credit_nothing,
);

on_every_backend!(
    funding::without_a_secret_the_funding_webhook_is_unavailable,
    abuse::another_customers_ids_are_not_found_on_every_route,
    abuse::customers_and_support_cannot_use_admin_functions,
    abuse::extra_fields_are_refused_and_change_nothing,
    abuse::forged_and_expired_tokens_are_refused,
    abuse::oversized_malformed_and_mistyped_bodies_are_refused,
    abuse::numbers_out_of_range_are_refused,
    abuse::nul_bytes_in_strings_are_refused,
    abuse::header_injection_is_neutralised,
    scenarios::register_login_deposit_buy_sell_and_read_the_ledger,
    scenarios::limit_order_rests_holds_cash_and_cancel_returns_it,
    scenarios::concurrent_market_buys_never_overspend_cash,
    scenarios::another_customers_order_is_not_found,
    scenarios::validation_errors_name_the_fields,
    scenarios::authentication_failures_use_the_envelope,
    scenarios::business_rule_rejections,
    scenarios::orders_and_activities_paginate_newest_first,
    scenarios::market_data_and_health,
    market_clock::the_clock_says_the_simulated_market_is_always_open,
    hardening::security_headers_on_every_answer,
    hardening::the_api_documents_itself,
    identity::refresh_rotates_and_reuse_revokes_the_whole_session,
    identity::logout_ends_the_session_at_once,
    identity::changing_the_password_ends_every_session,
    identity::admins_lock_users_and_support_only_reads,
    identity::two_factor_login_needs_a_fresh_code_once,
    identity::api_keys_sign_requests_within_their_scopes,
    identity::repeated_failed_logins_are_throttled_per_account,
    identity::admins_halt_and_resume_symbols,
    rbac::every_route_answers_each_role_as_the_access_table_says,
    idempotency::a_replayed_order_is_the_first_answer_byte_for_byte,
    idempotency::twenty_parallel_requests_with_one_key_create_one_order,
    idempotency::a_replayed_deposit_or_withdrawal_moves_money_once,
    idempotency::keys_belong_to_one_user,
    idempotency::signed_requests_honour_the_key,
    idempotency::malformed_keys_are_refused,
    webhooks::trade_updates_are_delivered_signed_and_retried,
);
