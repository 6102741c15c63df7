//! Market data: symbols, quotes and the provider port; the asset list.

mod assets;
mod clock;
mod models;
mod ports;

pub use assets::*;
pub use clock::*;
pub use models::*;
pub use ports::*;
