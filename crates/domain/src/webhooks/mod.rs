//! Outgoing webhooks: customers register HTTPS endpoints for their trade updates; a
//! dispatcher turns the trade-update outbox ([`crate::orders::EventStore`]) into deliveries,
//! signs each one (`X-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, t + "." + body)>`) and
//! retries failures with exponential backoff. Trading never waits for a webhook: the outbox is
//! written with the order, and delivery runs in a background worker.

mod dispatch;
mod models;
mod ports;
mod service;

pub use dispatch::*;
pub use models::*;
pub use ports::*;
pub use service::*;
