//! Users: registration, login, access tokens.

mod models;
mod ports;
mod service;

pub use models::*;
pub use ports::*;
pub use service::*;
