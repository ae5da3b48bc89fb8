//! One instance's watcher: the pure decision machine, log-tail alignment, and the async shell.

pub mod machine;
pub mod tail;
