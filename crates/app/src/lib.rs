//! Start-up for the `brokerage` binary: settings, telemetry, wiring of adapters, commands.

mod asset_cache;
pub mod commands;
mod execution_engine;
pub mod json_lines;
pub mod log_buffer;
mod market_data;
pub mod operations;
mod quote_memo;
pub mod settings;
pub mod startup;
pub mod telemetry;
mod webhook_dispatcher;
mod webhook_sender;

pub use settings::Settings;
pub use startup::Application;
