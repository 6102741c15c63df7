//! The end-to-end API suite. Every scenario runs twice: on the memory adapters and on
//! Postgres + Redis (`postgres::…` tests; `make test` provides the servers).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod hardening;
mod idempotency;
mod identity;
mod market_clock;
mod market_data;
mod rbac;
mod scenarios;
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

on_every_backend!(
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
);
