//! The vocabulary of the whole program: everything vastfleet has to say is one [`Event`].
//! The human and JSON writers are two renderings of it; the state store, notifiers and metrics
//! read the same stream.

use std::time::{Duration, SystemTime};

use crate::status::Status;
use crate::throttle::{Change, Scope, ThrottleStats};

/// Which instance an event is about, as the stream names it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Source {
    pub id: u64,
    /// The user's label, else the id as text: the prefix of every line.
    pub label: std::sync::Arc<str>,
}

/// What a monitor asks of an instance when a rule fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ActionKind {
    Stop,
    Destroy,
}

impl ActionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ActionKind::Stop => "stop",
            ActionKind::Destroy => "destroy",
        }
    }
}

/// Why a job counts as failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureReason {
    /// A new log line matched the `failure` pattern.
    Log,
    /// The container left `running` for `exited` while it was meant to run.
    Exited,
}

impl FailureReason {
    pub fn as_str(self) -> &'static str {
        match self {
            FailureReason::Log => "log",
            FailureReason::Exited => "exited",
        }
    }
}

/// How long an instance has run and what it has cost, when its job ends (completion or
/// failure): from `start_date` and `dph_total`, the same estimate as `status`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RunCost {
    pub duration: Duration,
    pub cost_usd: Option<f64>,
}

/// What the instance's row said when a job ended (completion or failure): the machine, its
/// price, and the run so far, each as far as the row knew it.
#[derive(Debug, Clone, PartialEq)]
pub struct JobCost {
    pub gpu: Option<String>,
    pub dph_total: Option<f64>,
    pub run: Option<RunCost>,
}

/// A new match of the completion pattern.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    pub source: Source,
    pub count: u32,
    pub result_url: Option<String>,
    pub cost: JobCost,
}

/// A job's failure: a new match of the `failure` pattern (`count` numbers them from 1), or
/// the container exited while meant to run (`count` numbers the exits, no `line`).
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub source: Source,
    pub reason: FailureReason,
    pub count: u32,
    pub line: Option<String>,
    /// The lines just before `line`, oldest first.
    pub context: Vec<String>,
    pub cost: JobCost,
}

/// Which `[budget]` limit the fleet went over. Kept in the state file by its `as_str` name.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum BudgetKind {
    /// The fleet's running instances burn more $/hr than `max_dph`.
    MaxDph,
    /// The fleet has spent more than `max_spend`.
    MaxSpend,
}

impl BudgetKind {
    pub fn as_str(self) -> &'static str {
        match self {
            BudgetKind::MaxDph => "max_dph",
            BudgetKind::MaxSpend => "max_spend",
        }
    }
}

/// One thing worth telling the user, stamped when it happened.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub at: SystemTime,
    pub kind: EventKind,
}

impl Event {
    pub fn now(kind: EventKind) -> Self {
        Event {
            at: SystemTime::now(),
            kind,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum EventKind {
    /// Watching starts (or restarts after a reload) for an instance.
    Joined {
        source: Source,
    },
    /// The instance is no longer watched (removed from the fleet file).
    Left {
        source: Source,
    },
    /// The instance's `actual_status` changed. `status` is `Gone` when the API no longer
    /// knows the instance; `previous` is `None` on the first observation.
    Status {
        source: Source,
        status: Status,
        previous: Option<Status>,
        /// The host's status text, when it says something useful (pull progress, an error).
        message: Option<String>,
    },
    /// One log line, printed exactly once. `history` marks lines that were already in the log
    /// when watching started.
    Log {
        source: Source,
        line: String,
        history: bool,
    },
    /// More lines arrived between two polls than even the largest tail (`tail` lines) covers:
    /// some lines between the two snapshots may be missing. A tail-only API cannot say how many.
    Gap {
        source: Source,
        tail: u32,
    },
    /// An API call failed; the work is retried after `retry_in`. `source` is `None` for
    /// fleet-wide calls (the status sweep).
    ApiError {
        source: Option<Source>,
        attempt: u32,
        retry_in: Duration,
        error: String,
    },
    /// Calls succeed again after `failed_attempts` failures.
    Recovered {
        source: Option<Source>,
        failed_attempts: u32,
    },
    /// A new match of the completion pattern.
    Completion(Completion),
    /// Matches of the completion pattern that were already in the log when watching started.
    OldCompletions {
        source: Source,
        count: u32,
    },
    /// The job failed.
    Failure(Failure),
    /// Matches of the failure pattern already in the log when watching started.
    OldFailures {
        source: Source,
        count: u32,
    },
    /// The fleet went over a `[budget]` limit (once per episode; an alert, never an action).
    Budget {
        limit: BudgetKind,
        /// The fleet's figure: $/hr for `MaxDph`, dollars for `MaxSpend`.
        value: f64,
        max: f64,
    },
    /// An action on an instance was carried out (or failed, or was only reported under
    /// `--dry-run`).
    Action {
        source: Source,
        action: ActionKind,
        ok: bool,
        dry_run: bool,
        /// Why it was taken ("completion", a guard's name, "retry: still running").
        reason: String,
        error: Option<String>,
    },
    /// A guard fired (runtime, cost, idle, …).
    Guard {
        source: Source,
        guard: String,
        action: Option<ActionKind>,
        detail: String,
    },
    /// The throttle changed: an endpoint's pace or pause, the overall ceiling, or the key's
    /// pause. `Limited` and `Back` are the lines a human sees; `Step`s only go to `--json`.
    Throttle {
        scope: Scope,
        change: Change,
        /// The pace (endpoint) or overall rate (ceiling, key) now, calls/s.
        per_second: f64,
        reason: String,
    },
    /// The fleet file changed and was applied, or was rejected.
    Reload {
        added: Vec<u64>,
        removed: Vec<u64>,
        changed: Vec<u64>,
    },
    ReloadRejected {
        error: String,
    },
    /// Instances in the account that the fleet does not cover.
    Orphans {
        ids: Vec<u64>,
    },
    /// Saving the state file failed (said once per episode; a notice says when it works again).
    /// Watching goes on; what a restart would remember is older until then.
    StateError {
        error: String,
    },
    /// A note about one instance (its log body was cut, its row holds nonsense). Named
    /// `notice` in the JSON stream, like [`EventKind::Notice`], with the instance's fields.
    Note {
        source: Source,
        message: String,
    },
    /// A fleet-level note (start-up, the resume hint).
    Notice {
        message: String,
    },
    /// The last event of a run: what each instance did, what the API cost, how to carry on.
    /// Data, not text: `report` renders it, like every other event.
    Shutdown {
        summary: Vec<InstanceSummary>,
        api: ThrottleStats,
        resume: Resume,
    },
}

/// How to carry on after a run, for the end of the shutdown summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resume {
    /// The same watch again (`command`); the state file makes it resume. The instances still
    /// billing are offered a `vastfleet destroy`.
    Watch { command: String },
    /// `vastfleet demo`: its account and fleet file are gone with it.
    Demo,
}

impl Resume {
    /// The command that carries on, if there is one.
    pub fn command(&self) -> Option<&str> {
        match self {
            Resume::Watch { command } => Some(command),
            Resume::Demo => None,
        }
    }

    /// The instances of `summary` still billing, when this run offers to stop paying for them.
    pub fn billing(&self, summary: &[InstanceSummary]) -> Vec<u64> {
        match self {
            Resume::Watch { .. } => summary
                .iter()
                .filter(|s| s.status != Some(Status::Gone))
                .map(|s| s.source.id)
                .collect(),
            Resume::Demo => Vec::new(),
        }
    }
}

/// One instance's line in the shutdown summary.
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceSummary {
    pub source: Source,
    pub status: Option<Status>,
    pub completions: u32,
    /// New failures of the job (pattern matches and exits) this run.
    pub failures: u32,
    pub actions: Vec<ActionKind>,
    /// `dph_total` of the last row.
    pub dph_total: Option<f64>,
    /// The spend estimate of the last row, at the time of the summary.
    pub spend_usd: Option<f64>,
}

impl EventKind {
    /// The instance the event is about, if any.
    pub fn source(&self) -> Option<&Source> {
        match self {
            EventKind::Joined { source }
            | EventKind::Left { source }
            | EventKind::Status { source, .. }
            | EventKind::Log { source, .. }
            | EventKind::Gap { source, .. }
            | EventKind::Completion(Completion { source, .. })
            | EventKind::OldCompletions { source, .. }
            | EventKind::Failure(Failure { source, .. })
            | EventKind::OldFailures { source, .. }
            | EventKind::Action { source, .. }
            | EventKind::Guard { source, .. }
            | EventKind::Note { source, .. } => Some(source),
            EventKind::ApiError { source, .. } | EventKind::Recovered { source, .. } => {
                source.as_ref()
            }
            _ => None,
        }
    }

    /// The `event` name in the JSON contract.
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::Joined { .. } => "joined",
            EventKind::Left { .. } => "left",
            EventKind::Status { .. } => "status",
            EventKind::Log { .. } => "log",
            EventKind::Gap { .. } => "gap",
            EventKind::ApiError { .. } => "api_error",
            EventKind::Recovered { .. } => "recovered",
            EventKind::Completion(_) => "completion",
            EventKind::OldCompletions { .. } => "old_completions",
            EventKind::Failure(_) => "failure",
            EventKind::OldFailures { .. } => "old_failures",
            EventKind::Budget { .. } => "budget",
            EventKind::Action { .. } => "action",
            EventKind::Guard { .. } => "guard",
            EventKind::Throttle { .. } => "throttle",
            EventKind::Reload { .. } => "reload",
            EventKind::ReloadRejected { .. } => "reload_rejected",
            EventKind::Orphans { .. } => "orphans",
            EventKind::StateError { .. } => "state_error",
            EventKind::Notice { .. } | EventKind::Note { .. } => "notice",
            EventKind::Shutdown { .. } => "shutdown",
        }
    }
}
