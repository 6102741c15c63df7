//! Hand-written statements, built to be *prepared once per connection*.
//!
//! diesel marks every `UPDATE`, every `ON CONFLICT … DO UPDATE`, every multi-row `INSERT` and
//! every insert of an optional value as unsafe to cache, and diesel-async prepares such
//! statements anew on each use, one at a time (its statement cache is locked while it
//! prepares). The statements here are safe to cache, so each shape is prepared on first use
//! and then only bound and executed:
//! - [`booking`]: everything one change of an account writes, as one statement
//!   ([`WriteBooking`]); multi-row inserts take one array per column and `unnest` them, so
//!   any number of rows is still the same statement.
//! - [`engine`]: the execution engine's reads of the open book (planned afresh on purpose).
//! - [`reads`]: reads that run on every request, as constant SQL.
//! - [`transaction`]: `BEGIN` and `COMMIT` of the short transactions (`short_tx`).
//! - [`request_keys`]: the `Idempotency-Key` index's lookup and insert.

pub(crate) mod booking;
mod engine;
mod reads;
mod request_keys;
mod transaction;

pub(crate) use engine::{EngineCandidates, OpenSymbols};
pub(crate) use reads::AccountBook;
pub(crate) use request_keys::{FindRequestKey, RecordRequestKey};
pub(crate) use transaction::{Begin, Commit};
