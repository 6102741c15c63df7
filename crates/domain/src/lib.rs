//! Brokerage's business rules, free of I/O.
//!
//! Each bounded context has the same layout, so a newcomer can find things by name:
//! `models.rs` (types that cannot hold invalid values), `ports.rs` (traits the adapters
//! implement, each documenting the errors it must return) and `service.rs` (use cases).
//!
//! Where an order is validated, held, filled and stored:
//! - validated: [`orders::request`] turns a client's request into an [`orders::OrderSpec`];
//! - held and filled: [`orders::settlement`] moves cash and shares (pure functions the
//!   adapters run inside their transaction);
//! - stored: the [`orders::OrderStore`] port, implemented by the memory and Postgres adapters.

pub mod accounts;
pub mod api_keys;
pub mod crypto;
pub mod error;
pub mod idempotency;
pub mod ids;
pub mod ledger;
pub mod limits;
pub mod market;
pub mod orders;
pub mod paging;
pub mod positions;
pub mod rbac;
pub mod system;
pub mod users;
pub mod values;
pub mod webhooks;

pub use error::{FieldError, InfraError};
pub use ids::{AccountId, ActivityId, ApiKeyId, OrderId, SessionId, UserId};
pub use paging::{Page, PageRequest};
pub use rbac::{ApiScopes, Credential, Permission, Principal};
pub use system::{Clock, HealthCheck, IdGenerator};
pub use values::{Amount, Money, Price, Quantity};
