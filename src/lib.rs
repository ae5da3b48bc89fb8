//! vastfleet: supervise a fleet of rented Vast.ai GPU instances.

pub mod api;
pub mod atomic;
pub mod backoff;
pub mod cli;
pub mod commands;
pub mod config;
pub mod cost;
pub mod exit;
pub mod feed;
pub mod fleet;
pub mod live;
pub mod metrics;
pub mod monitor;
pub mod notify;
pub mod reload;
pub mod report;
pub mod schedule;
pub mod service;
pub mod signals;
pub mod sim;
pub mod state;
pub mod status;
pub mod stdout;
pub mod throttle;
pub mod top;
pub mod watch;

pub use exit::Fatal;

/// What the process learned about its terminal before the runtime started its threads, and
/// the global output flags.
#[derive(Debug, Clone)]
pub struct Terminal {
    pub color: bool,
    pub zone: report::clock::TimeZone,
    /// `-q`: the human stream shows instance events only.
    pub quiet: bool,
}

impl Terminal {
    /// Call before building the tokio runtime (see [`report::clock`]).
    pub fn detect(cli: &cli::Cli) -> Self {
        Terminal {
            color: report::style::detect_color(cli.color),
            zone: report::clock::local_zone(),
            quiet: cli.quiet,
        }
    }
}

/// Runs one command to its end. Only bad input at start and failed one-shot commands come
/// back as errors; a running `watch` survives everything but Ctrl+C / SIGTERM.
pub async fn run(cli: cli::Cli, terminal: Terminal) -> Result<(), Fatal> {
    use cli::Command;
    match cli.command {
        Command::Watch(args) => commands::watch::run(args, terminal).await,
        Command::Demo(args) => commands::demo::run(args, terminal).await,
        Command::Add(args) => commands::fleet_file::add(args).await,
        Command::Remove(args) => commands::fleet_file::remove(args),
        Command::Check(args) => commands::fleet_file::check(args).await,
        Command::Status(args) => commands::status::run(args).await,
        Command::Top(args) => commands::top::run(args).await,
        Command::Stop(args) => commands::lifecycle::stop(args).await,
        Command::Start(args) => commands::lifecycle::start(args).await,
        Command::Reboot(args) => commands::lifecycle::reboot(args).await,
        Command::Destroy(args) => commands::lifecycle::destroy(args).await,
        Command::Logs(args) => commands::logs::run(args).await,
        Command::Ssh(args) => commands::ssh::run(args).await,
        Command::Sim(args) => commands::sim::run(args).await,
        Command::Completions(args) => commands::completions::run(args),
        Command::Man => commands::man::run(),
    }
}
