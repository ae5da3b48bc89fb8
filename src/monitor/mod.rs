//! One instance's watcher: the pure decision machine ([`machine`]) with its log follower,
//! action lifecycle and guards, the log-tail alignment ([`tail`]), and the async shell.
//! Statuses are [`crate::status::Status`], parsed once from each row.

mod actions;
mod durable;
mod failures;
pub mod guards;
mod lines;
pub(crate) mod logs;
pub mod machine;
mod pace;
mod protocol;
pub mod signals;
pub mod tail;
pub mod task;

pub use durable::{ActionRecord, DurableState, Trigger, CURSOR_LINES};
pub use lines::Lines;
pub use machine::{MachineOptions, MonitorMachine, Now, Observation, Step};

#[cfg(test)]
mod tests;
