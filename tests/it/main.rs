//! The integration tests, compiled into one binary to keep link time low. One module per area.
mod fidelity;
mod sim;
mod throttle;
mod fleet_file;

mod report;

mod metrics;
mod notify;
