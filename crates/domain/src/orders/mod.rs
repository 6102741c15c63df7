//! Orders: validated from a request, held against buying power or shares, filled, stored.
//!
//! - [`request`]: a client's request becomes an [`OrderSpec`] (or a list of field errors);
//! - [`models`]: the [`Order`] and its state machine;
//! - [`pricing`]: how much cash a buy holds, and whether it fills at once at the quote;
//! - [`settlement`]: the pure moves of cash and shares on hold, fill and release;
//! - [`triggers`]: when a resting order (limit, stop, stop-limit, trailing stop) trades;
//! - [`fees`]: the commission model;
//! - [`booking`]: what one atomic change writes (orders, balances, ledger, fills, events);
//! - [`events`]: the trade updates written with every change (the outbox);
//! - [`ports`]: the stores that write bookings atomically;
//! - [`service`]: the use cases; [`engine`]: the execution engine's loop body.

pub mod booking;
pub mod engine;
pub mod events;
pub mod fees;
pub mod models;
pub mod ports;
pub mod pricing;
pub mod request;
pub mod service;
pub mod settlement;
pub mod triggers;

pub use booking::{Booking, Execution, Tick};
pub use engine::*;
pub use events::*;
pub use fees::FeeSchedule;
pub use models::*;
pub use ports::*;
pub use request::{OrderInput, OrderSpec, Size};
pub use service::*;
pub use triggers::{Candidates, Touch};
