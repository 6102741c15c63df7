//! Accounts: cash, held cash, deposits and withdrawals, and the activity ledger.

mod models;
mod ports;
mod service;

pub use models::*;
pub use ports::*;
pub use service::*;
