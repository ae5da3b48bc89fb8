//! The `vastfleet` binary: parse the command line, set up diagnostics and the runtime, run,
//! and map the outcome to an exit code (0 ok, 2 bad input at start, 1 anything else).

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::fmt::writer::BoxMakeWriter;

/// Where diagnostics go: stderr, except onto the terminal a full-screen view draws on (a line
/// there would corrupt the screen until the next full redraw); `2>FILE` still gets them.
fn diagnostics(cli: &vastfleet::cli::Cli) -> BoxMakeWriter {
    use vastfleet::cli::Command;
    let full_screen = match &cli.command {
        Command::Top(_) => true,
        Command::Watch(args) => args.tui,
        _ => false,
    };
    if full_screen && std::io::stderr().is_terminal() {
        BoxMakeWriter::new(std::io::sink)
    } else {
        BoxMakeWriter::new(std::io::stderr)
    }
}

fn main() -> ExitCode {
    let cli = vastfleet::cli::Cli::parse();
    let level = match (cli.quiet, cli.verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, _) => "debug",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level)),
        )
        .with_writer(diagnostics(&cli))
        .init();
    let terminal = vastfleet::Terminal::detect(&cli);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("vastfleet: cannot start the async runtime: {err}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(vastfleet::run(cli, terminal)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(fatal) => {
            if !fatal.message.is_empty() {
                eprintln!("vastfleet: {}", without_the_key(&fatal.message));
            }
            ExitCode::from(fatal.code)
        }
    }
}

/// The last net before an error is printed: a key pasted into the wrong place of the fleet
/// file (or echoed by a server into a message nobody scrubbed) is quoted back by parsers.
fn without_the_key(message: &str) -> std::borrow::Cow<'_, str> {
    match vastfleet::api::key::resolve() {
        Ok(key) => vastfleet::api::scrub::scrub(message, key.expose()),
        Err(_) => std::borrow::Cow::Borrowed(message),
    }
}
