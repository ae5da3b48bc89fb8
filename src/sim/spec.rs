//! The per-instance part of a scenario: an instance's hardware, initial state, transition
//! timing, log script and the events "someone else" causes, plus the humantime durations
//! the file is written in.

use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A duration written as a humantime string in the file ("300ms", "2s", "1m 30s").
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Hash)]
pub struct Dur(pub Duration);

impl Dur {
    pub const fn secs(s: u64) -> Dur {
        Dur(Duration::from_secs(s))
    }
    pub const fn millis(ms: u64) -> Dur {
        Dur(Duration::from_millis(ms))
    }
}

impl Serialize for Dur {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(self.0).to_string())
    }
}

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Dur, D::Error> {
        let text = String::deserialize(d)?;
        humantime::parse_duration(text.trim())
            .map(Dur)
            .map_err(|err| {
                serde::de::Error::custom(format!(
                    "invalid duration {text:?} ({err}); write e.g. \"300ms\", \"2s\" or \"1m 30s\""
                ))
            })
    }
}

/// One instance of the account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstanceSpec {
    pub id: u64,
    #[serde(default)]
    pub label: Option<String>,
    #[serde(default = "default_gpu")]
    pub gpu_name: String,
    #[serde(default = "one")]
    pub num_gpus: u32,
    #[serde(default = "default_dph")]
    pub dph_total: f64,
    #[serde(default = "default_image")]
    pub image: String,
    /// How long before the start of the simulation the instance was created.
    #[serde(default = "default_age")]
    pub age: Dur,
    #[serde(default)]
    pub state: InitialState,
    #[serde(default)]
    pub timing: Timing,
    /// Lines already in the log when the simulation starts.
    #[serde(default)]
    pub history: Vec<String>,
    /// A steady generator: this many `line_text` lines per second of running time.
    #[serde(default)]
    pub lines_per_second: f64,
    /// The generator's line; `{n}` becomes its 1-based count, `{id}` the instance id.
    #[serde(default = "default_line_text")]
    pub line_text: String,
    /// Running time at which the job prints the completion line and then `result_url`.
    #[serde(default)]
    pub complete_at: Option<Dur>,
    #[serde(default)]
    pub result_url: Option<String>,
    /// Scripted lines, at running time (a stopped container prints nothing).
    #[serde(default)]
    pub log: Vec<LogItem>,
    /// Things done to the instance by "someone else", at simulation time.
    #[serde(default, rename = "event")]
    pub events: Vec<EventSpec>,
    /// Scripted gauges, at running time (otherwise a busy GPU with a little wobble).
    #[serde(default, rename = "gauge")]
    pub gauges: Vec<GaugeItem>,
}

/// From running time `at` on, the row shows these gauges (a later item overrides each value it
/// sets); a job that ends can drop its GPU to 0 %, as real ones do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GaugeItem {
    pub at: Dur,
    /// Percent, 0..=100.
    #[serde(default)]
    pub gpu_util: Option<f64>,
    /// As the API reports it (a fraction of the instance's cores), >= 0.
    #[serde(default)]
    pub cpu_util: Option<f64>,
}

/// Why a gauge value cannot be shown, if it cannot: the scenario's `[[instance.gauge]]` and
/// `SimControl::set_gauges` take the same values.
pub(crate) fn gauge_error(gpu_util: Option<f64>, cpu_util: Option<f64>) -> Option<&'static str> {
    if gpu_util.is_some_and(|u| !(0.0..=100.0).contains(&u)) {
        return Some("`gpu_util` is a percentage, 0 to 100");
    }
    if cpu_util.is_some_and(|c| !(c.is_finite() && c >= 0.0)) {
        return Some("`cpu_util` must be a number >= 0");
    }
    None
}

impl InstanceSpec {
    /// The scripted (gpu_util, cpu_util) at running time `run`, each `None` when unscripted.
    pub fn gauges_at(&self, run: Duration) -> (Option<f64>, Option<f64>) {
        let mut due: Vec<&GaugeItem> = self.gauges.iter().filter(|g| g.at.0 <= run).collect();
        due.sort_by_key(|g| g.at);
        due.iter().fold((None, None), |(gpu, cpu), g| {
            (g.gpu_util.or(gpu), g.cpu_util.or(cpu))
        })
    }
}

/// The line a job prints when it has finished (what `vastfleet` watches for).
pub const COMPLETION_LINE: &str = "SUCCESS! NEW processing completed";

fn default_gpu() -> String {
    "RTX 4090".to_owned()
}
fn one() -> u32 {
    1
}
fn default_dph() -> f64 {
    0.402
}
fn default_image() -> String {
    "pytorch/pytorch:latest".to_owned()
}
fn default_age() -> Dur {
    Dur::secs(3600)
}
fn default_line_text() -> String {
    "step {n}".to_owned()
}

impl InstanceSpec {
    /// A running instance with the defaults and nothing scripted.
    pub fn new(id: u64) -> InstanceSpec {
        InstanceSpec {
            id,
            label: None,
            gpu_name: default_gpu(),
            num_gpus: 1,
            dph_total: default_dph(),
            image: default_image(),
            age: default_age(),
            state: InitialState::Running,
            timing: Timing::default(),
            history: Vec::new(),
            lines_per_second: 0.0,
            line_text: default_line_text(),
            complete_at: None,
            result_url: None,
            log: Vec::new(),
            events: Vec::new(),
            gauges: Vec::new(),
        }
    }
}

/// The state an instance is in when the simulation starts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InitialState {
    /// Provisioning at t=0: null → created → loading → running, per `timing`.
    Booting,
    #[default]
    Running,
    Stopped,
    Exited,
}

/// How long each transition takes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Timing {
    /// `actual_status` null.
    pub provisioning: Dur,
    /// `created`.
    pub created: Dur,
    /// `loading`, with docker pull lines in `status_msg`.
    pub loading: Dur,
    /// From a stop request until `actual_status` is `stopped`.
    pub stopping: Dur,
    /// From a start request until the GPUs are free again and it runs.
    pub scheduling: Dur,
    /// `rebooting`.
    pub rebooting: Dur,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            provisioning: Dur::secs(2),
            created: Dur::secs(2),
            loading: Dur::secs(4),
            stopping: Dur::secs(1),
            scheduling: Dur::secs(0),
            rebooting: Dur::secs(2),
        }
    }
}

/// Scripted log lines: one at `at`, or `count` of them (default: forever) `every` apart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogItem {
    pub at: Dur,
    pub text: String,
    #[serde(default)]
    pub every: Option<Dur>,
    #[serde(default)]
    pub count: Option<u64>,
}

/// Something done to an instance at a simulation time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventSpec {
    pub at: Dur,
    pub action: Action,
    /// `fail`: the error in `status_msg`. `label`: the new label.
    #[serde(default)]
    pub text: Option<String>,
}

/// What can happen to an instance (by script or through `SimControl`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Stop,
    Start,
    Reboot,
    Recycle,
    /// The container process ended: `exited`.
    Exit,
    /// No heartbeat from the host: `unknown`.
    Unknown,
    /// The host disconnected: `offline`.
    Offline,
    /// The start failed: `created` + intended `stopped` + an error in `status_msg`.
    Fail,
    Destroy,
    /// Gone from every read without anyone calling destroy.
    Vanish,
    Label,
}
