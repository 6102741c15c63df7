//! Orders: validated from a request, held against buying power or shares, filled, stored.
//!
//! - [`request`]: a client's request becomes an [`OrderSpec`] (or a list of field errors);
//! - [`models`]: the [`Order`] and its state machine;
//! - [`pricing`]: how much cash a buy holds, and whether it fills at once at the quote;
//! - [`settlement`]: the pure moves of cash and shares on hold, fill and release;
//! - [`ports`]: the [`OrderStore`] that runs settlement atomically;
//! - [`service`]: the use cases.

pub mod models;
pub mod ports;
pub mod pricing;
pub mod request;
pub mod service;
pub mod settlement;

pub use models::*;
pub use ports::*;
pub use request::{OrderInput, OrderSpec, Size};
pub use service::*;
