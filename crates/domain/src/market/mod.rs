//! Market data: symbols, quotes and the provider port.

mod models;
mod ports;

pub use models::*;
pub use ports::*;
