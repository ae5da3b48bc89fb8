//! `vastfleet completions SHELL`.

use clap::CommandFactory;

use crate::cli::{Cli, CompletionsArgs};
use crate::Fatal;

/// Rendered in memory first: clap_complete panics on a failed write (`| head -1`).
pub fn run(args: CompletionsArgs) -> Result<(), Fatal> {
    let mut command = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, "vastfleet", &mut script);
    crate::stdout::print(&String::from_utf8_lossy(&script))
}
