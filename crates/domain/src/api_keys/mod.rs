//! API keys for programs: created and revoked by their owner, shown once, kept encrypted so
//! the server can recompute request signatures, limited by scopes.

mod models;
mod ports;
mod service;

pub use models::*;
pub use ports::*;
pub use service::*;
