//! The scenario file: what the simulated account holds and how it misbehaves. It is read
//! straight into these serde structs (unknown keys are errors) and then checked once; every
//! key is documented in `examples/sim/demo.toml`. The fields are public so tests and
//! benchmarks can build or tweak a scenario in code.

use std::collections::HashSet;
use std::fmt;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::faults::ENDPOINT_NAMES;
pub use super::limits::{Gaps, Limits, RateModel};
use super::spec::gauge_error;
pub use super::spec::{
    Action, Dur, EventSpec, GaugeItem, InitialState, InstanceSpec, LogItem, Timing, COMPLETION_LINE,
};

/// A whole simulated account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// The one bearer key the simulator accepts.
    #[serde(default = "default_key")]
    pub key: String,
    #[serde(default)]
    pub switches: Switches,
    #[serde(default)]
    pub limits: Limits,
    #[serde(default)]
    pub logs: LogSettings,
    #[serde(default, rename = "instance")]
    pub instances: Vec<InstanceSpec>,
    #[serde(default, rename = "fault")]
    pub faults: Vec<FaultSpec>,
}

fn default_key() -> String {
    "sim-key".to_owned()
}

/// Behaviours the real service shows only for some accounts or some of the time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Switches {
    /// The status of `auth_error` for a bad or missing key: 404, as a live probe of the real
    /// API answered, or 401, as its OpenAPI text says.
    pub auth_error_status: u16,
    /// Show-one of an unknown or destroyed id gets 404 `no_such_instance` instead of 200
    /// `{"instances": null}`.
    pub show_missing_as_404: bool,
    /// Serve the legacy v0 list instead of 410 `deprecated_endpoint`.
    pub v0_list: bool,
    /// request_logs on an instance that is not running gets 200 `success: false, not_running`.
    pub logs_not_running_error: bool,
}

impl Default for Switches {
    fn default() -> Self {
        Switches {
            auth_error_status: 404,
            show_missing_as_404: false,
            v0_list: false,
            logs_not_running_error: false,
        }
    }
}

/// The log protocol's knobs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSettings {
    /// The fake S3 object answers "not ready" to this many GETs before the text ...
    pub not_ready_polls: u32,
    /// ... and for at least this long after request_logs (real objects appear "seconds later").
    pub ready_after: Dur,
    /// One stable object per instance, as before 2025 (the name came from key + instance):
    /// while a new snapshot is not ready, the object still serves the previous one (200).
    pub stale_copy: bool,
    /// The "not ready" status: 403 (S3's AccessDenied) or 404.
    pub not_ready_status: u16,
    /// Lines returned when request_logs names no `tail`.
    pub default_tail: usize,
    /// Each instance keeps at most this many lines (the oldest are dropped).
    pub max_lines: usize,
}

impl Default for LogSettings {
    fn default() -> Self {
        LogSettings {
            not_ready_polls: 1,
            ready_after: Dur(Duration::ZERO),
            stale_copy: false,
            not_ready_status: 403,
            default_tail: 1000,
            max_lines: 10_000,
        }
    }
}

/// A fault window in the file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    pub kind: FaultKind,
    /// Start, relative to the start of the simulation.
    #[serde(default)]
    pub from: Dur,
    /// End (exclusive), relative to the start of the simulation; default: never.
    #[serde(default)]
    pub until: Option<Dur>,
    /// Only these endpoints (stats names); default: every API endpoint except `log_result`.
    #[serde(default)]
    pub endpoints: Vec<String>,
    /// `429`: the `Retry-After` to send (whole seconds).
    #[serde(default)]
    pub retry_after: Option<Dur>,
    /// `429`: a JSON `{"detail": ...}` body instead of plain text.
    #[serde(default)]
    pub json_body: bool,
    /// `slow`: how long each response is held back.
    #[serde(default)]
    pub delay: Option<Dur>,
    /// `vanish`: which instances disappear from reads (default: all).
    #[serde(default)]
    pub ids: Vec<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FaultKind {
    #[serde(rename = "429")]
    TooManyRequests,
    #[serde(rename = "502")]
    BadGateway,
    #[serde(rename = "503")]
    Unavailable,
    #[serde(rename = "504")]
    GatewayTimeout,
    #[serde(rename = "404_html")]
    ProxyNotFound,
    #[serde(rename = "slow")]
    Slow,
    #[serde(rename = "drop")]
    Drop,
    #[serde(rename = "malformed_json")]
    MalformedJson,
    #[serde(rename = "success_false")]
    SuccessFalse,
    #[serde(rename = "vanish")]
    Vanish,
}

impl Scenario {
    /// Parses and checks a scenario; errors name `origin` and, for syntax, line and column.
    pub fn from_toml(text: &str, origin: &str) -> Result<Scenario, String> {
        let scenario: Scenario = toml::from_str(text)
            .map_err(|err| format!("{origin}: {}", err.to_string().trim_end()))?;
        scenario.check().map_err(|err| format!("{origin}: {err}"))?;
        Ok(scenario)
    }

    pub fn load(path: &Path) -> Result<Scenario, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|err| format!("{}: cannot read the scenario: {err}", path.display()))?;
        Scenario::from_toml(&text, &path.display().to_string())
    }

    /// The scenario of `vastfleet demo`: everything interesting within about 40 s.
    pub fn demo() -> Scenario {
        Scenario::from_toml(include_str!("../../examples/sim/demo.toml"), "demo.toml")
            .unwrap_or_else(|err| {
                unreachable!("the built-in demo scenario is checked by a test: {err}")
            })
    }

    /// `n` running instances printing `lines_per_second` lines each, forever (benchmarks).
    pub fn steady_fleet(n: usize, lines_per_second: f64) -> Scenario {
        let instances = (0..n as u64)
            .map(|i| InstanceSpec {
                label: Some(format!("worker-{:03}", i + 1)),
                lines_per_second,
                line_text: "instance {id} line {n}".to_owned(),
                ..InstanceSpec::new(20_000_001 + i)
            })
            .collect();
        Scenario {
            instances,
            ..Scenario::empty()
        }
    }

    /// No instances, no faults, default limits.
    pub fn empty() -> Scenario {
        Scenario {
            key: default_key(),
            switches: Switches::default(),
            limits: Limits::default(),
            logs: LogSettings::default(),
            instances: Vec::new(),
            faults: Vec::new(),
        }
    }

    /// The checks serde cannot express. Also run by `Simulator::start` on hand-built scenarios.
    pub fn check(&self) -> Result<(), ScenarioError> {
        let err = |msg: String| Err(ScenarioError(msg));
        if self.key.trim().is_empty() {
            return err("`key` must not be empty".into());
        }
        let mut ids = HashSet::new();
        for inst in &self.instances {
            let id = inst.id;
            if !ids.insert(id) {
                return err(format!("instance {id} is listed twice"));
            }
            if inst
                .label
                .as_ref()
                .is_some_and(|l| l.chars().count() > 1024)
            {
                return err(format!(
                    "instance {id}: a label has at most 1024 characters"
                ));
            }
            if !(inst.lines_per_second.is_finite() && inst.lines_per_second >= 0.0) {
                return err(format!(
                    "instance {id}: `lines_per_second` must be a number >= 0"
                ));
            }
            if !(inst.dph_total.is_finite() && inst.dph_total >= 0.0) {
                return err(format!("instance {id}: `dph_total` must be a number >= 0"));
            }
            for item in &inst.log {
                if item.every.is_some_and(|d| d.0.is_zero()) {
                    return err(format!("instance {id}: a log item's `every` must be > 0"));
                }
                if item.every.is_none() && item.count.is_some_and(|c| c != 1) {
                    return err(format!(
                        "instance {id}: a log item with `count` needs `every`"
                    ));
                }
            }
            for gauge in &inst.gauges {
                if let Some(why) = gauge_error(gauge.gpu_util, gauge.cpu_util) {
                    return err(format!("instance {id}: a gauge's {why}"));
                }
            }
            for event in &inst.events {
                let needs_text = matches!(event.action, Action::Fail | Action::Label);
                if needs_text != event.text.is_some() {
                    return err(format!(
                        "instance {id}: `text` goes with the `fail` and `label` events (and they need it)"
                    ));
                }
            }
        }
        if self
            .limits
            .overall_per_second
            .is_some_and(|r| !(r.is_finite() && r > 0.0))
        {
            return err("`limits.overall_per_second` must be > 0".into());
        }
        if !matches!(self.switches.auth_error_status, 401 | 404) {
            return err("`switches.auth_error_status` must be 401 or 404".into());
        }
        if self.limits.burst == 0 {
            return err("`limits.burst` must be at least 1".into());
        }
        if !matches!(self.logs.not_ready_status, 403 | 404) {
            return err("`logs.not_ready_status` must be 403 or 404".into());
        }
        for (n, fault) in self.faults.iter().enumerate() {
            check_fault(fault).map_err(|msg| ScenarioError(format!("fault #{}: {msg}", n + 1)))?;
        }
        Ok(())
    }
}

fn check_fault(fault: &FaultSpec) -> Result<(), String> {
    if fault.until.is_some_and(|until| until <= fault.from) {
        return Err("`until` must come after `from`".into());
    }
    if let Some(bad) = fault
        .endpoints
        .iter()
        .find(|e| !ENDPOINT_NAMES.contains(&e.as_str()))
    {
        return Err(format!(
            "unknown endpoint {bad:?} (known: {})",
            ENDPOINT_NAMES.join(", ")
        ));
    }
    let is_429 = fault.kind == FaultKind::TooManyRequests;
    if !is_429 && (fault.retry_after.is_some() || fault.json_body) {
        return Err("`retry_after` and `json_body` go with kind \"429\" only".into());
    }
    if (fault.kind == FaultKind::Slow) != fault.delay.is_some() {
        return Err("kind \"slow\" needs `delay` (and only it takes one)".into());
    }
    if fault.kind != FaultKind::Vanish && !fault.ids.is_empty() {
        return Err("`ids` goes with kind \"vanish\" only".into());
    }
    Ok(())
}

/// A scenario that parses but makes no sense.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioError(pub String);

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ScenarioError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_scenarios_parse() {
        let demo = Scenario::demo();
        assert!(demo.instances.len() >= 3);
        let basic = include_str!("../../examples/sim/basic.toml");
        Scenario::from_toml(basic, "basic.toml").unwrap();
    }

    #[test]
    fn syntax_errors_name_the_file_and_line() {
        let err =
            Scenario::from_toml("key = \"k\"\n[[instance]]\nid = \"x\"\n", "s.toml").unwrap_err();
        assert!(err.starts_with("s.toml: "), "{err}");
        assert!(err.contains("line 3"), "{err}");
    }

    #[test]
    fn unknown_keys_and_bad_durations_are_errors() {
        let err = Scenario::from_toml("[limits]\nenable = true\n", "s.toml").unwrap_err();
        assert!(err.contains("enable"), "{err}");
        let err =
            Scenario::from_toml("[[instance]]\nid = 1\nage = \"soon\"\n", "s.toml").unwrap_err();
        assert!(err.contains("invalid duration"), "{err}");
    }

    #[test]
    fn semantic_errors_are_caught() {
        let cases = [
            (
                "[[instance]]\nid = 1\n[[instance]]\nid = 1\n",
                "listed twice",
            ),
            ("[[fault]]\nkind = \"slow\"\n", "needs `delay`"),
            (
                "[[fault]]\nkind = \"502\"\nfrom = \"5s\"\nuntil = \"2s\"\n",
                "after `from`",
            ),
            (
                "[[fault]]\nkind = \"502\"\nendpoints = [\"lst\"]\n",
                "unknown endpoint",
            ),
            (
                "[[instance]]\nid = 1\n[[instance.event]]\nat = \"1s\"\naction = \"fail\"\n",
                "`text`",
            ),
        ];
        for (text, want) in cases {
            let err = Scenario::from_toml(text, "s.toml").unwrap_err();
            assert!(err.contains(want), "{text:?} gave {err}");
        }
    }

    #[test]
    fn gauges_are_scripted_on_running_time_and_checked() {
        let text = "[[instance]]\nid = 1\n[[instance.gauge]]\nat = \"10s\"\ngpu_util = 0\n\
                    [[instance.gauge]]\nat = \"5s\"\ngpu_util = 90\ncpu_util = 0.5\n";
        let scenario = Scenario::from_toml(text, "s.toml").unwrap();
        let spec = &scenario.instances[0];
        let at = |s| spec.gauges_at(std::time::Duration::from_secs(s));
        assert_eq!(at(1), (None, None));
        assert_eq!(at(5), (Some(90.0), Some(0.5)));
        assert_eq!(
            at(11),
            (Some(0.0), Some(0.5)),
            "a later item overrides what it sets"
        );
        let bad = "[[instance]]\nid = 1\n[[instance.gauge]]\nat = \"1s\"\ngpu_util = 150\n";
        let err = Scenario::from_toml(bad, "s.toml").unwrap_err();
        assert!(err.contains("percentage"), "{err}");
    }

    #[test]
    fn steady_fleet_has_distinct_running_instances() {
        let s = Scenario::steady_fleet(30, 2.0);
        assert_eq!(s.instances.len(), 30);
        s.check().unwrap();
        assert!(s.instances.iter().all(|i| i.state == InitialState::Running));
    }
}
