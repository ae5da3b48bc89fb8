//! The integration tests, compiled into one binary to keep link time low. One module per area.

mod metrics;
mod notify;
