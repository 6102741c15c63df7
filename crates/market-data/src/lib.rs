//! Quote providers. The simulated market is the default: deterministic, needs no network.

mod simulated;

pub use simulated::{LISTINGS, SimulatedMarket};
