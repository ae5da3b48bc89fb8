//! The validated fleet: durations parsed, regexes compiled, ids unique, defaults merged into
//! every instance. Nothing downstream sees raw TOML. The checks themselves live in
//! `validate.rs`; this file holds the types, the entry points and the command-line overrides.

use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use regex::Regex;

use super::error::ConfigError;
use crate::report::event::ActionKind;
use crate::throttle::RateLimit;

/// The default patterns, compiled once for the whole process.
static DEFAULT_COMPLETION: LazyLock<Arc<Regex>> = LazyLock::new(|| {
    Arc::new(Regex::new("SUCCESS! NEW processing completed").expect("valid default"))
});
static DEFAULT_RESULT: LazyLock<Arc<Regex>> =
    LazyLock::new(|| Arc::new(Regex::new(r"https?://\S+").expect("valid default")));

pub use crate::api::base_url::DEFAULT_API_URL;

/// Everything `watch` needs, validated.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The fleet file, when there is one (`watch --id` runs without).
    pub path: Option<PathBuf>,
    pub api: ApiSettings,
    pub defaults: Policy,
    pub instances: Vec<InstanceSettings>,
    /// `[discover]`: account instances to watch beyond the listed ones (with `defaults`).
    pub discover: Option<Discover>,
    /// `[[notify]]` webhooks.
    pub notify: Vec<crate::notify::Target>,
    /// `[api] api_down_after`: how long every call may fail before the API counts as down.
    pub api_down_after: Duration,
    /// `[budget]`: fleet-wide cost alerts.
    pub budget: Budget,
    /// Things that are allowed but probably not meant (a label used twice). `check` shows them.
    pub warnings: Vec<ConfigError>,
    /// `watch --only`: what is watched must match one of these (label, or id when unlabelled).
    pub only: Vec<globset::GlobMatcher>,
    /// Listed in the file but left out by `--only`: not watched, yet not unlisted either.
    pub left_out: std::collections::BTreeSet<u64>,
}

impl Default for Settings {
    /// An empty fleet with every default, as a base for fleets built from flags.
    fn default() -> Self {
        Settings {
            path: None,
            api: ApiSettings::default(),
            defaults: Policy::default(),
            instances: Vec::new(),
            discover: None,
            notify: Vec::new(),
            api_down_after: Duration::from_secs(5 * 60),
            budget: Budget::default(),
            warnings: Vec::new(),
            only: Vec::new(),
            left_out: std::collections::BTreeSet::new(),
        }
    }
}

impl Settings {
    /// Whether `--only` lets an instance with this Vast label (or, unlabelled, id) be watched.
    pub fn admits(&self, label: Option<&str>, id: u64) -> bool {
        self.only.is_empty() || {
            let shown = label.map_or_else(|| id.to_string(), str::to_owned);
            self.only.iter().any(|glob| glob.is_match(&shown))
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ApiSettings {
    /// `[api] url` (or `--api-url` once [`Overrides`] were applied); the command resolves it
    /// with [`crate::api::base_url::BaseUrl`].
    pub url: Option<String>,
    pub rate_limit: RateLimit,
    /// `[api] log_order`: signals first (default) or plain round robin.
    pub log_order: crate::schedule::Order,
    /// `[api] max_retry_after`: the longest server-given wait honoured.
    pub max_retry_after: Duration,
}

impl Default for ApiSettings {
    fn default() -> Self {
        ApiSettings {
            url: None,
            rate_limit: RateLimit::default(),
            log_order: crate::schedule::Order::default(),
            max_retry_after: crate::throttle::DEFAULT_MAX_RETRY_AFTER,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct InstanceSettings {
    pub id: u64,
    pub label: Option<String>,
    pub policy: Policy,
}

impl InstanceSettings {
    /// The prefix of the instance's lines.
    pub fn display_label(&self) -> String {
        // A discovered instance's label comes from the API and may be megabytes long.
        self.label
            .as_deref()
            .map_or_else(|| self.id.to_string(), crate::report::sanitize::short_label)
    }
}

/// The per-instance rules, after `[defaults]` were merged in.
#[derive(Debug, Clone)]
pub struct Policy {
    pub interval: Duration,
    pub max_backoff: Duration,
    pub tail: u32,
    /// Existing lines shown when watching starts; `None` shows all of them (`--full`).
    pub history: Option<u32>,
    /// Shared, not cloned: a compiled regex and its match caches are tens of KB, and a fleet of
    /// a thousand instances mostly uses the same two patterns.
    pub completion: Arc<Regex>,
    pub result: Arc<Regex>,
    pub on_complete: Option<ActionKind>,
    /// A new match is a failed job; `None` (the default) looks for none.
    pub failure: Option<Arc<Regex>>,
    pub on_failure: Option<ActionKind>,
    /// What to do when the container exits while `intended_status` is running.
    pub on_exit: Option<ActionKind>,
    pub guards: Guards,
}

impl PartialEq for Policy {
    fn eq(&self, other: &Self) -> bool {
        self.interval == other.interval
            && self.max_backoff == other.max_backoff
            && self.tail == other.tail
            && self.history == other.history
            && self.completion.as_str() == other.completion.as_str()
            && self.result.as_str() == other.result.as_str()
            && self.on_complete == other.on_complete
            && self.failure.as_ref().map(|r| r.as_str())
                == other.failure.as_ref().map(|r| r.as_str())
            && self.on_failure == other.on_failure
            && self.on_exit == other.on_exit
            && self.guards == other.guards
    }
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            interval: Duration::from_secs(5),
            max_backoff: Duration::from_secs(60),
            tail: 200,
            history: Some(10),
            completion: Arc::clone(&DEFAULT_COMPLETION),
            result: Arc::clone(&DEFAULT_RESULT),
            on_complete: Some(ActionKind::Stop),
            failure: None,
            on_failure: Some(ActionKind::Stop),
            on_exit: None,
            guards: Guards::default(),
        }
    }
}

/// Rules that act on an instance for reasons other than completion (issue 6). Every guard is
/// off unless set.
#[derive(Debug, Clone, PartialEq)]
pub struct Guards {
    /// Act once the instance has been running this long.
    pub max_runtime: Option<Duration>,
    /// Act once the instance has cost this many dollars: `dph_total` × hours since `start_date`.
    /// An estimate: the API has no billing history, so stopped periods count at the running price.
    pub max_cost: Option<f64>,
    /// Act when GPU utilisation stays low while running.
    pub idle: Option<IdleGuard>,
    /// Act when the instance stays in a non-running state (loading, pulling) this long.
    pub stuck: Option<Duration>,
    /// Act when a running instance writes no new log line for this long.
    pub silent: Option<Duration>,
    /// Destroy an instance that has been stopped this long (a stopped disk still bills).
    pub destroy_after_stop: Option<Duration>,
    /// Warn (never act) when the rental contract ends within this long.
    pub contract_warning: ContractWarning,
    /// What max_runtime, max_cost, idle, stuck and silent do when they fire; `None` reports only.
    pub on_guard: Option<ActionKind>,
}

impl Default for Guards {
    fn default() -> Self {
        Guards {
            max_runtime: None,
            max_cost: None,
            idle: None,
            stuck: None,
            silent: None,
            destroy_after_stop: None,
            contract_warning: ContractWarning::Default,
            on_guard: Some(ActionKind::Stop),
        }
    }
}

impl Guards {
    /// Whether any guard is on.
    pub fn any(&self) -> bool {
        self.max_runtime.is_some()
            || self.max_cost.is_some()
            || self.idle.is_some()
            || self.stuck.is_some()
            || self.silent.is_some()
            || self.destroy_after_stop.is_some()
            || matches!(self.contract_warning, ContractWarning::Within(_))
    }
}

/// The issue's default: warn a day before the host's contract ends (`contract_warning` unset).
pub const DEFAULT_CONTRACT_WARNING: Duration = Duration::from_secs(24 * 3600);

/// `contract_warning`: unlike the other guards it is on by default, so "unset" and `"none"`
/// are two different settings, and the type keeps them apart.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ContractWarning {
    /// Unset: [`DEFAULT_CONTRACT_WARNING`].
    #[default]
    Default,
    /// `contract_warning = "none"`.
    Off,
    /// A duration the user wrote.
    Within(Duration),
}

impl ContractWarning {
    /// How long before the contract's end to warn; `None` when the alert is off.
    pub fn lead(self) -> Option<Duration> {
        match self {
            ContractWarning::Default => Some(DEFAULT_CONTRACT_WARNING),
            ContractWarning::Off => None,
            ContractWarning::Within(lead) => Some(lead),
        }
    }
}

/// `[budget]`: alerts (never actions) when the whole fleet burns or has spent more than this.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Budget {
    /// $/hr of the fleet's instances, summed.
    pub max_dph: Option<f64>,
    /// Dollars spent, summed over the instances' estimates.
    pub max_spend: Option<f64>,
}

/// `idle = { gpu_util_below = 5, for = "20m" }`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IdleGuard {
    /// Percent, in (0, 100].
    pub gpu_util_below: f64,
    /// How long utilisation must stay below the threshold (`for` in the file).
    pub duration: Duration,
}

/// `[discover]`: which unlisted account instances to watch too.
#[derive(Debug, Clone)]
pub enum Discover {
    All,
    /// Instances whose Vast label matches the glob.
    Label(globset::GlobMatcher),
}

impl Discover {
    pub fn matches(&self, label: Option<&str>) -> bool {
        match self {
            Discover::All => true,
            Discover::Label(glob) => label.is_some_and(|label| glob.is_match(label)),
        }
    }
}

impl PartialEq for Discover {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Discover::All, Discover::All) => true,
            (Discover::Label(a), Discover::Label(b)) => a.glob() == b.glob(),
            _ => false,
        }
    }
}

/// Command-line flags that win over the file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Overrides {
    /// `--interval`, already parsed with [`parse_interval_flag`].
    pub interval: Option<Duration>,
    /// `--full`: show every existing log line when watching starts.
    pub full_history: bool,
    /// `--on-complete`; `Some(None)` is `--on-complete none`.
    pub on_complete: Option<Option<ActionKind>>,
    /// `--api-url`.
    pub api_url: Option<String>,
}

impl Settings {
    /// Reads and validates a fleet file.
    pub fn load(path: &Path) -> Result<Settings, ConfigError> {
        let text = super::read::read_fleet_text(path).map_err(|err| {
            let error = ConfigError::new(Some(path), format!("cannot read the fleet file: {err}"));
            if err.kind() == std::io::ErrorKind::NotFound {
                error.with_help(
                    "create it with `vastfleet add ID` (it starts from a commented template)",
                )
            } else {
                error
            }
        })?;
        Settings::from_toml(&text, path)
    }

    /// Validates the text of a fleet file; `path` names it in errors.
    pub fn from_toml(text: &str, path: &Path) -> Result<Settings, ConfigError> {
        let file = toml::from_str(text).map_err(|err| ConfigError::from_toml(path, text, &err))?;
        super::validate::validate(file, text, path)
    }

    /// The fleet of `watch --id …`: every default, the given ids (duplicates dropped).
    pub fn from_ids(ids: &[u64], overrides: &Overrides) -> Result<Settings, ConfigError> {
        if ids.contains(&0) {
            return Err(ConfigError::new(None, "--id 0 is not an instance id")
                .with_help("instance ids are the positive numbers `vastai show instances` lists"));
        }
        let mut settings = Settings::default();
        for &id in ids {
            if !settings.instances.iter().any(|i| i.id == id) {
                settings.instances.push(InstanceSettings {
                    id,
                    label: None,
                    policy: settings.defaults.clone(),
                });
            }
        }
        settings.apply(overrides);
        Ok(settings)
    }

    /// Puts the command-line flags over whatever the file said, for every instance.
    pub fn apply(&mut self, overrides: &Overrides) {
        let policies = std::iter::once(&mut self.defaults)
            .chain(self.instances.iter_mut().map(|i| &mut i.policy));
        for policy in policies {
            if let Some(interval) = overrides.interval {
                policy.interval = interval;
                // The backoff cap can never be shorter than the normal pace.
                policy.max_backoff = policy.max_backoff.max(interval);
            }
            if overrides.full_history {
                policy.history = None;
            }
            if let Some(on_complete) = overrides.on_complete {
                policy.on_complete = on_complete;
            }
        }
        if let Some(url) = &overrides.api_url {
            self.api.url = Some(url.clone());
        }
    }

    pub fn instance(&self, id: u64) -> Option<&InstanceSettings> {
        self.instances.iter().find(|i| i.id == id)
    }
}

/// Parses `--interval`, with the same rules as `interval` in the file.
pub fn parse_interval_flag(text: &str) -> Result<Duration, ConfigError> {
    let interval = humantime::parse_duration(text.trim()).map_err(|err| {
        ConfigError::new(None, format!("--interval {text:?}: {err}"))
            .with_help("write a number and a unit, e.g. \"500ms\", \"5s\", \"1m\"")
    })?;
    if interval < MIN_INTERVAL {
        return Err(
            ConfigError::new(None, format!("--interval {text:?} is shorter than 100ms"))
                .with_help("polling faster only queues calls behind the shared rate limiter"),
        );
    }
    Ok(interval)
}

/// The shortest poll period allowed anywhere.
pub const MIN_INTERVAL: Duration = Duration::from_millis(100);
