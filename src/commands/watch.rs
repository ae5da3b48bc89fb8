//! `vastfleet watch`: everything that can be wrong with the input is found here, before a
//! single instance is watched (exit 2); then the session runs until Ctrl+C / SIGTERM.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use globset::{Glob, GlobMatcher};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::api::base_url::BaseUrl;
use crate::api::key::ApiKey;
use crate::api::primed::Primed;
use crate::cli::{OnCompleteArg, WatchArgs};
use crate::commands::connect;
use crate::config::settings::parse_interval_flag;
use crate::config::{ConfigError, Overrides, Settings};
use crate::live::{self, Board, Sources};
use crate::metrics::{self, Metered, Metrics};
use crate::monitor::MachineOptions;
use crate::notify::NotifierConfig;
use crate::reload::Prepare;
use crate::report::event::{ActionKind, Resume};
use crate::report::filter::{compile_patterns, LineFilter};
use crate::report::human::HumanOptions;
use crate::report::writer::{Format, Sink, Writer};
use crate::throttle::{Endpoint, Throttle, ThrottleConfig};
use crate::watch::{self, LiveSession, Session};
use crate::{service, signals, state, Fatal, Terminal};

pub use crate::cli::DEFAULT_FLEET_FILE;

pub async fn run(args: WatchArgs, terminal: Terminal) -> Result<(), Fatal> {
    let watch = Watch::from_args(&args, terminal)?;
    let key = connect::api_key()?;
    let shutdown = signals::shutdown_on_signals();
    watch.run(key, shutdown).await
}

/// A validated `watch`: the session's plan, and what the command itself still needs to start
/// it (the flags a reload applies again, the metrics address).
pub struct Watch {
    plan: watch::Plan,
    overrides: Overrides,
    only: Vec<GlobMatcher>,
    metrics_addr: Option<std::net::SocketAddr>,
}

impl Watch {
    /// Reads and checks everything the flags and the fleet file name; every problem is exit 2.
    pub fn from_args(args: &WatchArgs, terminal: Terminal) -> Result<Watch, Fatal> {
        let overrides = Overrides {
            interval: args
                .interval
                .as_deref()
                .map(parse_interval_flag)
                .transpose()?,
            full_history: args.full,
            on_complete: args.on_complete.map(on_complete),
            api_url: args.api.api_url.clone(),
        };
        let only = args
            .only
            .iter()
            .map(|glob| {
                Glob::new(glob).map(|g| g.compile_matcher()).map_err(|err| {
                    Fatal::input(format!(
                        "--only {glob:?}: {err}\n  help: a glob like \"train-*\" or \"sdxl-?\""
                    ))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;

        let given = args.fleet.given();
        let (mut settings, file) = match (&given, args.ids.is_empty()) {
            (Some(_), false) => {
                return Err(Fatal::input(
                    "give either a fleet FILE or --id, not both\n  help: add the ids to the \
                     file with `vastfleet add ID -f FILE`",
                ))
            }
            (None, false) => (Settings::from_ids(&args.ids, &overrides)?, None),
            (_, true) => {
                let path = args.fleet.path();
                let text = read_fleet_file(&path)?;
                let mut settings = Settings::from_toml(&text, &path)?;
                settings.apply(&overrides);
                (settings, Some((path, text)))
            }
        };
        keep_only(&mut settings, &only);
        if !only.is_empty() && settings.instances.is_empty() && settings.discover.is_none() {
            return Err(Fatal::input(format!(
                "no instance label matches --only {}\n  help: `vastfleet check` lists the labels",
                args.only.join(", ")
            )));
        }

        if args.tui && !crate::top::has_terminal() {
            return Err(Fatal::input(
                "--tui draws on a terminal, and stdin or stdout is not one\n  help: drop \
                 --tui for the stream (or --json), and run `vastfleet top` from a terminal",
            ));
        }
        let label_width = settings
            .instances
            .iter()
            .map(|i| i.display_label().chars().count())
            .max()
            .unwrap_or(0);
        let writer = writer_for(args, terminal, label_width)?;
        let state_path = match (&args.state, &file) {
            (Some(path), _) => Some(path.clone()),
            (None, Some((path, _))) => Some(state::default_path(path)),
            (None, None) => None,
        };
        let resume = Resume::Watch {
            command: again(&settings, file.as_ref().map(|(path, _)| path.as_path())),
        };
        let fetch_spacing = fetch_spacing(&settings);
        let plan = watch::Plan {
            settings,
            file,
            state_path,
            writer,
            options: MachineOptions {
                dry_run: args.dry_run,
                fetch_spacing,
            },
            resume,
            tui: args.tui,
        };
        Ok(Watch {
            plan,
            overrides,
            only,
            metrics_addr: args.metrics,
        })
    }

    /// How the summary says to carry on (the demo's account and fleet file are temporary).
    pub fn with_resume(mut self, resume: Resume) -> Watch {
        self.plan.resume = resume;
        self
    }

    /// The base URL the watch will call (`--api-url` is in `settings` by now).
    pub fn api_url(&self) -> String {
        BaseUrl::from_env(None, self.plan.settings.api.url.as_deref()).url
    }

    /// Watches until `shutdown` fires.
    pub async fn run(self, key: ApiKey, shutdown: CancellationToken) -> Result<(), Fatal> {
        let plan = &self.plan;
        let api = &plan.settings.api;
        let throttle_config =
            ThrottleConfig::new(api.rate_limit).with_max_retry_after(api.max_retry_after);
        let throttle = Throttle::with_config(throttle_config.clone());
        let client = connect::build(self.api_url(), key.clone(), throttle.clone())?;
        // The longest a status page may take: its wait for the throttle, then the request.
        let page_within = throttle_config
            .longest_wait(Endpoint::List)
            .saturating_add(client.config().timeout_for(Endpoint::List));
        let lock = watch::lock_state(plan.state_path.as_deref())?;
        let tasks = TaskTracker::new();
        let (sweeps, sweeps_rx) = tokio::sync::watch::channel(None);
        let board = Board::new(Sources {
            sweeps: Some(sweeps_rx),
            throttle: Some((throttle.clone(), ThrottleConfig::new(api.rate_limit))),
            fleet_file: plan
                .file
                .as_ref()
                .map(|(path, _)| path.display().to_string()),
        });
        let metrics = match self.metrics_addr {
            Some(addr) => {
                let metrics = Metrics::new();
                // Served from now on, before the session follows the settings: the fleet's
                // window, not the default one.
                metrics.set_health_window(metrics::Window::of(&plan.settings));
                let live = live::router(board.clone(), shutdown.clone());
                let (bound, _server) =
                    metrics::serve(addr, metrics.clone(), Some(live), shutdown.clone(), &tasks)
                        .await
                        .map_err(|err| {
                            Fatal::input(format!(
                            "--metrics {addr}: cannot listen there: {err}\n  help: pick a free \
                             port, e.g. --metrics 127.0.0.1:0"
                        ))
                        })?;
                if let Some(warning) = metrics::exposure_warning(bound) {
                    eprintln!("{warning}");
                }
                eprintln!("vastfleet: metrics on http://{bound}/metrics");
                Some(metrics)
            }
            None => None,
        };
        let notify = (!plan.settings.notify.is_empty()).then(|| {
            let mut config = NotifierConfig::new(plan.settings.notify.clone());
            config.api_down_after = plan.settings.api_down_after;
            config
        });
        let prepare = plan
            .file
            .as_ref()
            .map(|(path, _)| reload_prepare(path.clone(), self.overrides, self.only, key.clone()));
        // Last of the start-up checks: the local ones (lock, metrics port) cost the API nothing.
        let first_page = connect::refuse_bad_key(&client).await?;
        let client = Primed::new(client, first_page);
        let session = Session {
            plan: self.plan,
            prepare,
            lock,
            sink: Sink::Stdout,
            metrics: metrics.clone(),
            notify,
            live: Some(LiveSession { board, sweeps }),
            tasks,
            service: service::Handle::from_env(page_within),
        };
        match metrics {
            Some(metrics) => {
                let api = Arc::new(Metered::new(client, metrics));
                watch::run(api, throttle, session, shutdown).await
            }
            None => watch::run(Arc::new(client), throttle, session, shutdown).await,
        }
    }
}

fn on_complete(arg: OnCompleteArg) -> Option<ActionKind> {
    match arg {
        OnCompleteArg::None => None,
        OnCompleteArg::Stop => Some(ActionKind::Stop),
        OnCompleteArg::Destroy => Some(ActionKind::Destroy),
    }
}

fn read_fleet_file(path: &Path) -> Result<String, Fatal> {
    crate::config::read::read_fleet_text(path).map_err(|err| {
        let mut error = ConfigError::new(Some(path), format!("cannot read the fleet file: {err}"));
        if err.kind() == std::io::ErrorKind::NotFound {
            error = error.with_help(
                "create it with `vastfleet add ID` (it starts from a commented template), or \
                 watch without a file: `vastfleet watch --id ID`",
            );
        }
        Fatal::from(error)
    })
}

/// The least time between two log fetches of the fleet under these settings: request_logs'
/// gap, or the overall ceiling if that is slower.
fn fetch_spacing(settings: &Settings) -> Duration {
    let limit = settings.api.rate_limit;
    let gap = ThrottleConfig::new(limit).gap(Endpoint::RequestLogs);
    let ceiling = Duration::try_from_secs_f64(limit.per_second.recip()).unwrap_or(Duration::ZERO);
    gap.max(ceiling)
}

/// `--only`: the instances whose label (or id, when unlabelled) matches one of the globs.
fn keep_only(settings: &mut Settings, only: &[GlobMatcher]) {
    if only.is_empty() {
        return;
    }
    settings.only = only.to_vec();
    let (kept, left_out) = std::mem::take(&mut settings.instances)
        .into_iter()
        .partition(|instance| settings.admits(instance.label.as_deref(), instance.id));
    settings.instances = kept;
    settings.left_out = left_out.into_iter().map(|instance| instance.id).collect();
}

fn writer_for(args: &WatchArgs, terminal: Terminal, label_width: usize) -> Result<Writer, Fatal> {
    let filter = LineFilter::from_args(&args.include, &args.exclude)
        .map_err(|err| Fatal::input(format!("{err}")))?;
    let format = if args.json {
        Format::Json
    } else {
        let mut options = HumanOptions::new(terminal.color, terminal.zone.clone());
        options.no_prefix = args.no_prefix;
        options.timestamps = args.timestamps;
        options.label_width = label_width;
        options.quiet = terminal.quiet;
        options.highlight = compile_patterns("--highlight", &args.highlight)
            .map_err(|err| Fatal::input(format!("{err}")))?;
        Format::Human(options)
    };
    Ok(Writer::new(format, filter))
}

/// Applied to every new text of the fleet file: the same flags and `--only` as at start. A
/// rejection is the text a start-up error would print, scrubbed of the key like one (a key
/// pasted into the file must not reach the stream or a webhook).
fn reload_prepare(
    path: PathBuf,
    overrides: Overrides,
    only: Vec<GlobMatcher>,
    key: ApiKey,
) -> Prepare {
    Arc::new(move |text: &str| {
        let mut settings = Settings::from_toml(text, &path)
            .map_err(|err| crate::api::scrub::scrub(&err.to_string(), key.expose()).into_owned())?;
        settings.apply(&overrides);
        keep_only(&mut settings, &only);
        Ok(settings)
    })
}

/// What to type to carry on: the same watch again (the state file makes it resume).
fn again(settings: &Settings, file: Option<&Path>) -> String {
    match file {
        Some(path) => format!(
            "vastfleet watch {}",
            shell_word(&path.display().to_string())
        ),
        None => {
            let ids: Vec<String> = settings
                .instances
                .iter()
                .map(|i| format!("--id {}", i.id))
                .collect();
            format!("vastfleet watch {}", ids.join(" "))
        }
    }
}

/// Quotes a path for a POSIX shell when it needs it.
fn shell_word(word: &str) -> String {
    let plain = word
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_./+,:@".contains(c));
    if plain && !word.is_empty() {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resume_hint_names_the_file_or_every_id() {
        let settings = Settings::from_ids(&[7, 9], &Overrides::default()).unwrap();
        let hint = again(&settings, Some(Path::new("my fleet.toml")));
        assert!(hint.contains("vastfleet watch 'my fleet.toml'"), "{hint}");
        let hint = again(&settings, None);
        assert!(hint.contains("vastfleet watch --id 7 --id 9"), "{hint}");
    }

    #[test]
    fn only_keeps_matching_labels_and_unlabelled_ids() {
        let mut settings = Settings::from_ids(&[1, 2, 3], &Overrides::default()).unwrap();
        settings.instances[0].label = Some("train-a".into());
        settings.instances[1].label = Some("render".into());
        let only = vec![
            Glob::new("train-*").unwrap().compile_matcher(),
            Glob::new("3").unwrap().compile_matcher(),
        ];
        keep_only(&mut settings, &only);
        let ids: Vec<u64> = settings.instances.iter().map(|i| i.id).collect();
        assert_eq!(ids, [1, 3]);
        // The one left out is still the file's, not an orphan; discovery obeys --only too.
        assert_eq!(settings.left_out.iter().copied().collect::<Vec<_>>(), [2]);
        assert!(settings.admits(Some("train-b"), 7) && settings.admits(None, 3));
        assert!(!settings.admits(Some("render-2"), 8) && !settings.admits(None, 4));
    }
}
