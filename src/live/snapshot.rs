//! The data model of the live view: what `GET /v1/fleet` answers and what `top` and `status`
//! read back. One set of serde types for both sides, so the endpoint and its readers cannot
//! drift apart. Times are absolute (seconds since the Unix epoch) so a reader computes ages
//! against its own clock between two snapshots.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::commands::ssh::SshTarget;
use crate::cost::estimate_spend;
use crate::status::Status;

/// Bumped when a field changes meaning; readers refuse what they do not understand.
pub const VERSION: u32 = 1;

/// The whole fleet as the running watcher sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FleetSnapshot {
    pub version: u32,
    /// The watcher's process id.
    pub pid: u32,
    /// When this snapshot was taken.
    pub at: f64,
    /// When the watcher started.
    pub started_at: f64,
    /// The fleet file, when there is one.
    pub fleet_file: Option<String>,
    /// Every watched instance, by id; in an answer to `?since=`, only those changed since.
    pub instances: Vec<InstanceView>,
    /// This answer's number: passed back as `?since=`, the next answer sends only what changed.
    #[serde(default)]
    pub seq: u64,
    /// Set when `instances` holds only the instances changed since this `seq`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changed_since: Option<u64>,
    /// With `changed_since`: every watched instance's id, in order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ids: Option<Vec<u64>>,
    pub totals: Totals,
    pub api: ApiView,
}

impl FleetSnapshot {
    /// `answer`, an answer to `?since=` this snapshot's `seq`, made whole with this snapshot's
    /// unchanged instances (their spend put forward to the answer's time). `None` when it does
    /// not fit this snapshot (another watcher process, another `since`, an instance this
    /// snapshot lacks): ask for the whole fleet then. A whole answer is returned as it is.
    pub fn merged(&self, mut answer: FleetSnapshot) -> Option<FleetSnapshot> {
        let Some(ids) = answer.ids.take() else {
            return answer.changed_since.is_none().then_some(answer);
        };
        let fits = answer.pid == self.pid
            && answer.started_at == self.started_at
            && answer.changed_since == Some(self.seq);
        if !fits {
            return None;
        }
        let mut changed: HashMap<u64, InstanceView> =
            answer.instances.drain(..).map(|i| (i.id, i)).collect();
        let kept: HashMap<u64, &InstanceView> = self.instances.iter().map(|i| (i.id, i)).collect();
        let mut instances = Vec::with_capacity(ids.len());
        for id in ids {
            let view = match changed.remove(&id) {
                Some(view) => view,
                None => {
                    let mut view = (*kept.get(&id)?).clone();
                    view.spend_usd = estimate_spend(view.dph_total, view.started_at, answer.at);
                    view
                }
            };
            instances.push(view);
        }
        if !changed.is_empty() {
            return None;
        }
        answer.instances = instances;
        answer.changed_since = None;
        Some(answer)
    }
}

/// One watched instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstanceView {
    pub id: u64,
    pub label: String,
    /// The last `actual_status` the stream reported (`gone` when the API lost it); `None`
    /// before the first sweep.
    pub status: Option<Status>,
    /// The host's status text, when it said something.
    pub message: Option<String>,
    /// "2x RTX 4090", from the last status sweep.
    pub gpu: Option<String>,
    pub dph_total: Option<f64>,
    /// An estimate: the current price times the time since the instance started. Left out
    /// when unknown (the encoder writes it in front of each kept instance object).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spend_usd: Option<f64>,
    pub started_at: Option<f64>,
    /// The last log line (escape sequences removed) and when it was printed.
    pub last_line: Option<String>,
    pub last_line_at: Option<f64>,
    /// New log lines printed this session (history excluded).
    pub log_lines: u64,
    /// New completions this session.
    pub completions: u32,
    /// Job failures this session (new failure-pattern matches and exits while meant to run).
    #[serde(default)]
    pub failures: u32,
    /// Actions that failed this session (API errors on stop/destroy).
    pub failed_actions: u32,
    /// The last guard that fired.
    pub guard: Option<GuardView>,
    /// The last few actions, oldest first.
    pub actions: Vec<ActionView>,
    /// The instance's own API trouble (its log fetch or an action), until it recovers.
    pub error: Option<String>,
    /// Its SSH proxy's `host:port`, from the last status sweep (`status --wide`).
    #[serde(default)]
    pub ssh: Option<SshTarget>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GuardView {
    pub guard: String,
    /// "stop" / "destroy", or `None` for an alert that never acts.
    pub action: Option<String>,
    pub detail: String,
    pub at: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionView {
    pub action: String,
    pub ok: bool,
    pub dry_run: bool,
    pub reason: String,
    pub at: f64,
}

/// Fleet-wide figures.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    pub instances: usize,
    /// Instances by status (`unseen` before the first sweep).
    pub by_status: BTreeMap<String, usize>,
    /// $/hr of the running instances: what the fleet burns now.
    pub dph_running: f64,
    /// The sum of the instances' spend estimates.
    pub spend_usd: f64,
    pub completions: u64,
    #[serde(default)]
    pub failures: u64,
}

/// The API as the watcher meets it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiView {
    pub health: ApiHealth,
    /// The overall rate the throttle allows now; `None` without a ceiling.
    pub per_second: Option<f64>,
    pub calls: u64,
    pub rate_limited: u64,
    /// Each endpoint's pace and calls.
    pub endpoints: Vec<EndpointView>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EndpointView {
    pub endpoint: String,
    /// Calls per second this endpoint may make at most (its gap, under the overall rate).
    pub per_second: Option<f64>,
    pub calls: u64,
}

/// Whether the status sweep gets through.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ApiHealth {
    Ok,
    /// Every call waits out a 429 until `until`.
    Cooling {
        until: f64,
        reason: Option<String>,
    },
    /// The sweep has failed `attempt` times in a row since `since`.
    Failing {
        attempt: u32,
        since: f64,
        error: String,
    },
}

/// The recent log of one instance (`GET /v1/instances/ID/log`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogView {
    pub id: u64,
    pub label: String,
    /// Oldest first; at most [`crate::live::RECENT_LINES`].
    pub lines: Vec<LogLine>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogLine {
    pub at: f64,
    pub line: String,
    /// Already in the log when watching started.
    pub history: bool,
}

/// Seconds since the epoch, as every time in the snapshot.
pub fn epoch_seconds(at: std::time::SystemTime) -> f64 {
    at.duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}
