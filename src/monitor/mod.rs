//! One instance's watcher: the pure decision machine ([`machine`]) with its log follower,
//! action lifecycle and guards, the log-tail alignment ([`tail`]), and the async shell.
//!
//! Status names: the API's `actual_status` as is, plus two of our own — [`PROVISIONING`] for a
//! null `actual_status` (the docs: "still being provisioned") and [`GONE`] when the list no
//! longer has the instance.

mod actions;
mod durable;
pub mod guards;
mod lines;
mod logs;
pub mod machine;
mod protocol;
pub mod tail;
pub mod task;

pub use durable::{ActionRecord, DurableState, Trigger, CURSOR_LINES};
pub use guards::GuardConfig;
pub use lines::Lines;
pub use machine::{MachineOptions, MonitorMachine, Now, Observation, Output};

/// The status of an instance the list no longer returns.
pub const GONE: &str = "gone";
/// The status of an instance whose `actual_status` is null.
pub const PROVISIONING: &str = "provisioning";
/// The one status in which logs are polled.
pub const RUNNING: &str = "running";

#[cfg(test)]
mod tests;
