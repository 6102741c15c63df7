//! Positions: shares owned per symbol, their cost and their market value.

mod models;
mod ports;
mod valuation;

pub use models::*;
pub use ports::*;
pub use valuation::*;
