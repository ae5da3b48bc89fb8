//! One module per subcommand: the IO glue between the CLI and the library.

pub mod completions;
pub mod confirm;
pub mod connect;
pub mod demo;
pub mod fleet_file;
pub mod lifecycle;
pub mod logs;
pub mod man;
pub mod select;
pub mod sim;
pub mod ssh;
pub mod status;
pub mod top;
pub mod watch;
