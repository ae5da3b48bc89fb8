//! The integration tests, compiled into one binary to keep link time low. One module per area.
#[cfg(feature = "bench")]
mod bench;
mod client;
mod commands;
mod engine;
mod everyday;
mod failures;
mod fake;
mod fidelity;
mod fleet_file;
mod fleet_watch;
mod habits;
mod hostile;
mod live;
mod priority;
mod sim;
mod start_up;
mod support;
mod throttle;
mod tui;
mod watch;

mod realism;
mod reload;
mod report;
mod restart;
mod session;

mod metrics;
mod notify;
mod ops;
mod packaging;
mod service;
