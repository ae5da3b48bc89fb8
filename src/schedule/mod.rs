//! The log-fetch scheduler of issue 18: which instance's `request_logs` goes next. Round robin
//! is fair but blind; the status sweep already says which instances just changed (a GPU gone
//! idle, a container that exited), so those are read first — one early fetch per episode, and
//! never at the cost of anyone waiting more than 1.5× its round-robin share. Logs that print
//! little are read less often, fast ones more often, within the same bound.
//!
//! [`order`] is the pure decision (unit-tested turn by turn); [`queue`] is the thin async shell
//! the throttle's `request_logs` lane waits in; the signals themselves come from the monitor
//! machine (`monitor::signals`).

pub mod order;
pub mod queue;
pub mod stats;

pub use order::{Order, Pace, FAIRNESS_BOUND};
pub use queue::{LogQueue, Turn};
pub use stats::QueueStats;
