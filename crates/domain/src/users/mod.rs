//! Users: registration, login, access tokens.

mod models;
mod ports;
mod service;
mod sessions;
mod two_factor;

pub use models::*;
pub use ports::*;
pub use service::*;
pub use sessions::*;
pub use two_factor::*;
