//! The validated fleet: durations parsed, regexes compiled, ids unique, defaults merged into
//! every instance. Nothing downstream sees raw TOML.

use std::path::PathBuf;
use std::time::Duration;

use regex::Regex;

use crate::report::event::ActionKind;
use crate::throttle::RateLimit;

/// Everything `watch` needs, validated.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The fleet file, when there is one (`watch --id` runs without).
    pub path: Option<PathBuf>,
    pub api: ApiSettings,
    pub defaults: Policy,
    pub instances: Vec<InstanceSettings>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ApiSettings {
    /// `[api] url`; the caller resolves flag > file > VAST_URL > default.
    pub url: Option<String>,
    pub rate_limit: RateLimit,
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
        self.label.clone().unwrap_or_else(|| self.id.to_string())
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
    pub completion: Regex,
    pub result: Regex,
    pub on_complete: Option<ActionKind>,
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
    }
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            interval: Duration::from_secs(5),
            max_backoff: Duration::from_secs(60),
            tail: 200,
            history: Some(10),
            completion: Regex::new("SUCCESS! NEW processing completed").expect("valid default"),
            result: Regex::new(r"https?://\S+").expect("valid default"),
            on_complete: Some(ActionKind::Stop),
        }
    }
}
