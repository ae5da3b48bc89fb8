//! The command line, as clap definitions only. Doc comments are the `--help` text.

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::monitor::logs::MAX_TAIL;
use clap::{Args, Parser, Subcommand, ValueEnum};

/// Supervise a fleet of rented Vast.ai GPU instances: one stream, one rate limiter, never exits.
///
/// The API key is read from VAST_API_KEY, then ~/.config/vastai/vast_api_key (honouring
/// XDG_CONFIG_HOME), then ~/.vast_api_key: the places the official `vastai` CLI uses.
#[derive(Debug, Parser)]
#[command(name = "vastfleet", version, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// When to colour: auto (on a terminal; NO_COLOR and CLICOLOR=0 turn it off,
    /// CLICOLOR_FORCE=1 on), always, never.
    #[arg(long, value_enum, global = true, default_value_t, value_name = "WHEN")]
    pub color: crate::report::style::ColorWhen,
    /// Instance events only (logs, statuses, completions, failures, actions, guards): API and
    /// throttle lines are left to --json and the metrics.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Diagnostics on stderr: -v for more, -vv for everything (RUST_LOG, when set, wins).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Watch every instance of a fleet file until Ctrl+C.
    Watch(WatchArgs),
    /// Try vastfleet on a built-in simulated fleet: no key, no account.
    Demo(DemoArgs),
    /// Add instances to the fleet file (a running watch picks them up).
    Add(AddArgs),
    /// Remove instances from the fleet file (a running watch lets them go).
    Remove(RemoveArgs),
    /// One table of every instance in the fleet file, from one API call.
    Status(StatusArgs),
    /// The whole fleet at a glance, live, from the running watcher (no API call).
    Top(TopArgs),
    /// Validate the fleet file and the key location; print each instance's effective policy.
    Check(CheckArgs),
    /// Stop instances (their disk keeps billing).
    Stop(TargetsArgs),
    /// Start stopped instances.
    Start(TargetsArgs),
    /// Restart instances' containers without losing their GPUs.
    Reboot(TargetsArgs),
    /// Destroy instances: irreversible. Asks first on a terminal.
    Destroy(TargetsArgs),
    /// Print one instance's log, or follow it (--follow) until Ctrl+C.
    Logs(LogsArgs),
    /// Open a shell on an instance (or run a command there) through its SSH proxy.
    Ssh(SshArgs),
    /// Run the Vast.ai API simulator until Ctrl+C.
    Sim(SimArgs),
    /// Print shell completions.
    Completions(CompletionsArgs),
    /// Print the manual page (roff): `vastfleet man > ~/.local/share/man/man1/vastfleet.1`.
    Man,
}

/// Where the API lives, for every command that calls it.
#[derive(Debug, Clone, Args, Default)]
pub struct ApiArgs {
    /// Base URL of the API (else `[api] url` in the fleet file, else VAST_URL, else
    /// https://console.vast.ai).
    #[arg(long, value_name = "URL")]
    pub api_url: Option<String>,
}

/// The fleet file, for every command that reads one: `FILE`, `-f FILE`, or `$VASTFLEET_FILE`
/// (the environment is read by [`FleetFileArgs::path`], so it never conflicts with a flag).
#[derive(Debug, Clone, Args, Default)]
pub struct FleetFileArgs {
    /// The fleet file (default: $VASTFLEET_FILE, else fleet.toml).
    #[arg(value_name = "FILE", conflicts_with = "file")]
    pub positional: Option<PathBuf>,
    /// The fleet file, as a flag (the same as FILE).
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub file: Option<PathBuf>,
}

/// The environment variable naming the fleet file when no FILE or -f is given.
pub const FLEET_FILE_ENV: &str = "VASTFLEET_FILE";
/// The fleet file when nothing names one.
pub const DEFAULT_FLEET_FILE: &str = "fleet.toml";

impl FleetFileArgs {
    /// The file given on the command line, if any.
    pub fn given(&self) -> Option<PathBuf> {
        self.positional.clone().or_else(|| self.file.clone())
    }

    /// The file given, else `$VASTFLEET_FILE`, else `fleet.toml`.
    pub fn path(&self) -> PathBuf {
        self.given()
            .or_else(|| {
                std::env::var_os(FLEET_FILE_ENV)
                    .filter(|v| !v.is_empty())
                    .map(PathBuf::from)
            })
            .unwrap_or_else(|| PathBuf::from(DEFAULT_FLEET_FILE))
    }
}

/// An instance id: a friendly message instead of "invalid digit found in string".
pub fn parse_id(text: &str) -> Result<u64, String> {
    let trimmed = text.trim();
    match trimmed.parse::<u64>() {
        Ok(id) => Ok(id),
        Err(_) if trimmed.is_empty() => Err("an instance id is a number, like 1002".to_owned()),
        // clap names the value and the argument before this text.
        Err(_) => Err(
            "not an instance id: ids are whole numbers, like 1002 (`vastfleet status` lists \
             the fleet's)"
                .to_owned(),
        ),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OnCompleteArg {
    None,
    Stop,
    Destroy,
}

/// `Default` is `watch` with no flags, as clap parses it: `demo` builds its watch from it.
#[derive(Debug, Clone, Args, Default)]
pub struct WatchArgs {
    #[command(flatten)]
    pub fleet: FleetFileArgs,
    /// Watch this instance without a fleet file (repeatable).
    #[arg(long = "id", value_name = "ID", value_parser = parse_id)]
    pub ids: Vec<u64>,
    /// Policy on completion for instances given with --id.
    #[arg(long, value_enum, value_name = "POLICY")]
    pub on_complete: Option<OnCompleteArg>,
    /// Poll period for every instance, e.g. "5s" (overrides the file).
    #[arg(long, value_name = "DURATION")]
    pub interval: Option<String>,
    /// Show every log line already there when watching starts, not just the last `history`.
    #[arg(long)]
    pub full: bool,
    /// One JSON object per line instead of the human stream.
    #[arg(long, conflicts_with = "tui")]
    pub json: bool,
    /// The full-screen view of `vastfleet top` instead of the stream (q or Ctrl+C stops).
    #[arg(long)]
    pub tui: bool,
    /// Report actions without calling anything that changes an instance.
    #[arg(long)]
    pub dry_run: bool,
    /// Only log lines matching this regex (repeatable; completion detection still sees all).
    #[arg(long, value_name = "REGEX")]
    pub include: Vec<String>,
    /// Hide log lines matching this regex (repeatable).
    #[arg(long, value_name = "REGEX")]
    pub exclude: Vec<String>,
    /// Colour the matches of this regex in log lines (repeatable).
    #[arg(long, value_name = "REGEX")]
    pub highlight: Vec<String>,
    /// Watch only the instances whose label matches this glob (repeatable).
    #[arg(long, value_name = "GLOB")]
    pub only: Vec<String>,
    /// Leave out the `label │` prefix.
    #[arg(long)]
    pub no_prefix: bool,
    /// Full RFC 3339 timestamps instead of HH:MM:SS.
    #[arg(long)]
    pub timestamps: bool,
    /// The state file (default: `.<name>.state.json` beside the fleet file, or
    /// `<name>.state.json` in `$STATE_DIRECTORY` under systemd).
    #[arg(long, value_name = "PATH")]
    pub state: Option<PathBuf>,
    /// Serve Prometheus metrics on this address, e.g. 127.0.0.1:9184.
    #[arg(long, value_name = "ADDR")]
    pub metrics: Option<SocketAddr>,
    #[command(flatten)]
    pub api: ApiArgs,
}

#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// One JSON object per line instead of the human stream.
    #[arg(long)]
    pub json: bool,
    /// Stop by itself after this long, e.g. "60s" (default: run until Ctrl+C).
    #[arg(long, value_name = "DURATION")]
    pub duration: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct AddArgs {
    /// Instance ids to add.
    #[arg(required = true, value_name = "ID")]
    pub ids: Vec<String>,
    /// The fleet file (created with a commented template if missing).
    #[arg(
        short = 'f',
        long = "file",
        env = FLEET_FILE_ENV,
        default_value = DEFAULT_FLEET_FILE,
        value_name = "FILE"
    )]
    pub file: PathBuf,
    /// Label for the added instances (the prefix of their lines).
    #[arg(long)]
    pub label: Option<String>,
    /// What to do when the job completes.
    #[arg(long, value_enum, value_name = "POLICY")]
    pub on_complete: Option<OnCompleteArg>,
    /// Ask the API that each instance exists before adding it.
    #[arg(long)]
    pub check: bool,
    #[command(flatten)]
    pub api: ApiArgs,
}

#[derive(Debug, Clone, Args)]
pub struct RemoveArgs {
    /// Instance ids to remove.
    #[arg(required = true, value_name = "ID")]
    pub ids: Vec<String>,
    /// The fleet file.
    #[arg(
        short = 'f',
        long = "file",
        env = FLEET_FILE_ENV,
        default_value = DEFAULT_FLEET_FILE,
        value_name = "FILE"
    )]
    pub file: PathBuf,
}

#[derive(Debug, Clone, Args)]
pub struct TopArgs {
    #[command(flatten)]
    pub fleet: FleetFileArgs,
    /// The watcher's state file, when it was started with --state (or by systemd with
    /// StateDirectory=: /var/lib/vastfleet/fleet.toml.state.json).
    #[arg(long, value_name = "PATH")]
    pub state: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub fleet: FleetFileArgs,
    /// One JSON object per instance instead of the table, then one with the `totals`.
    #[arg(long)]
    pub json: bool,
    /// Also show each instance's SSH address (host:port).
    #[arg(long)]
    pub wide: bool,
    /// The whole account: the file's instances, then every other one (orphans, marked `*`).
    /// Needs no fleet file.
    #[arg(long)]
    pub all: bool,
    /// Ask the API even when the fleet's watcher runs (which otherwise answers, no API call).
    #[arg(long)]
    pub fresh: bool,
    /// The running watcher's state file, when it was started with --state (or by systemd with
    /// StateDirectory=: /var/lib/vastfleet/fleet.toml.state.json).
    #[arg(long, value_name = "PATH")]
    pub state: Option<PathBuf>,
    #[command(flatten)]
    pub api: ApiArgs,
}

#[derive(Debug, Clone, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub fleet: FleetFileArgs,
    /// Also ask the API, in one list sweep: the key is accepted, every listed id exists, and
    /// which instances of the account the file leaves out (they bill too).
    #[arg(long)]
    pub online: bool,
    #[command(flatten)]
    pub api: ApiArgs,
}

/// The instances of `stop`, `start`, `reboot` and `destroy`.
#[derive(Debug, Clone, Args)]
pub struct TargetsArgs {
    /// Instance ids, labels or globs of the fleet file (quote globs: 'train-*').
    #[arg(required = true, value_name = "ID|LABEL|GLOB")]
    pub targets: Vec<String>,
    /// Do not ask for confirmation (required when stdin is not a terminal and one is asked).
    #[arg(short = 'y', long = "yes")]
    pub yes: bool,
    #[command(flatten)]
    pub file: FileFlag,
    #[command(flatten)]
    pub api: ApiArgs,
}

/// The fleet file as a flag only, for commands whose positional arguments are instances.
#[derive(Debug, Clone, Args, Default)]
pub struct FileFlag {
    /// The fleet file that labels and globs are looked up in (default: $VASTFLEET_FILE, else
    /// fleet.toml).
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub file: Option<PathBuf>,
}

impl FileFlag {
    pub fn fleet(&self) -> FleetFileArgs {
        FleetFileArgs {
            positional: None,
            file: self.file.clone(),
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct LogsArgs {
    /// The instance: its id, or its label in the fleet file.
    #[arg(value_name = "ID|LABEL")]
    pub instance: String,
    /// How many of the last lines to print first (1 to 10000).
    #[arg(long, default_value_t = 100, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_TAIL)))]
    pub tail: u32,
    /// Keep printing new lines, each once, until Ctrl+C.
    #[arg(long)]
    pub follow: bool,
    #[command(flatten)]
    pub file: FileFlag,
    #[command(flatten)]
    pub api: ApiArgs,
}

impl LogsArgs {
    pub fn fleet_file(&self) -> FleetFileArgs {
        self.file.fleet()
    }
}

#[derive(Debug, Clone, Args)]
pub struct SshArgs {
    /// The instance: its id, or its label in the fleet file.
    #[arg(value_name = "ID|LABEL")]
    pub instance: String,
    /// Only print the ssh command line.
    #[arg(long)]
    pub print: bool,
    /// A command to run there instead of a shell (after `--`).
    #[arg(last = true, value_name = "CMD")]
    pub command: Vec<String>,
    #[command(flatten)]
    pub file: FileFlag,
    #[command(flatten)]
    pub api: ApiArgs,
}

#[derive(Debug, Clone, Args)]
pub struct SimArgs {
    /// Scenario file (see examples/sim/); default: the demo scenario.
    #[arg(long, value_name = "FILE")]
    pub scenario: Option<PathBuf>,
    /// Port on 127.0.0.1; 0 picks a free one.
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// The bearer key the simulator requires (default: the scenario's, else "sim-key").
    #[arg(long, env = "VASTFLEET_SIM_KEY", hide_env_values = true)]
    pub key: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}
