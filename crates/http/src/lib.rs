//! Brokerage's REST API (actix-web): the HTTP face of the domain services.
//!
//! Modules, from the outside in:
//! - [`server`]: [`build_server`] (the app crate runs it), [`app`] (one application, also for
//!   tests) and [`routes`] (every path);
//! - [`request_id`]: the `X-Request-Id` middleware and the request's tracing span;
//! - [`error_envelope`]: turns error responses without a JSON body (actix's 404/405, …) into the
//!   error envelope;
//! - [`extract`]: JSON, query and path extractor settings, and the [`Authenticated`] caller;
//! - [`errors`]: [`ApiError`], the error envelope, and the ONLY place that maps outcomes to
//!   status codes;
//! - [`dto`]: request and response bodies (serde, garde), and how they map to domain types;
//! - `routes/`: one handler module per area (auth, account, orders, positions,
//!   market data, health);
//! - [`state`]: [`ApiState`], the services every handler reaches through `web::Data`;
//! - operations: [`metrics`] (Prometheus, `GET /metrics`), [`rate_limit`] (the per-class
//!   limits middleware), [`trace_context`] (W3C `traceparent`), [`ops`] (what they need).

pub mod access;
pub mod api_key_auth;
pub mod authorize;
pub mod dto;
pub mod error_envelope;
pub mod errors;
pub mod events;
pub mod extract;
pub mod funding;
pub mod idempotency;
pub mod metrics;
pub mod openapi;
pub mod ops;
pub mod rate_limit;
pub mod request_id;
mod routes;
pub mod security_headers;
pub mod server;
pub mod state;
pub mod trace_context;

#[cfg(test)]
mod api_tests;
#[cfg(test)]
mod hardening_tests;
#[cfg(test)]
mod openapi_tests;
#[cfg(test)]
mod ops_tests;

pub use errors::{ApiError, FieldDetail};
pub use extract::Authenticated;
pub use metrics::GaugeProbe;
pub use ops::Ops;
pub use rate_limit::{Limit, RateLimitPolicy};
pub use server::{HttpConfig, admin_app, app, build_admin_server, build_server, build_server_with, routes};
pub use state::ApiState;
