//! Guards: rules that watch an instance's status rows and log activity for trouble (too long,
//! too costly, idle, stuck, silent, stopped too long, interrupted, contract ending, down) and
//! fire once per episode. Pure functions of the observations: the machine feeds the clock and
//! acts on what fires.
//!
//! An *episode* is a stretch of time in which a guard's state holds (the GPU is idle, the
//! instance is stuck in `loading`, …). A guard fires at most once per episode and re-arms when
//! its state ends, so a user who fixes the problem gets a fresh guard, and a restart of
//! vastfleet (episode flags are durable) does not repeat an alert for an ongoing episode.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::api::Instance;
use crate::config::{Guards, IdleGuard};
use crate::monitor::machine::Now;
use crate::report::event::ActionKind;
use crate::status::Status;

/// Every guard. The three alerts (outbid, contract ending, down) never act.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum GuardKind {
    MaxRuntime,
    MaxCost,
    Idle,
    Stuck,
    Silent,
    DestroyAfterStop,
    /// Was running, now `stopped` while `intended_status` is still running: outbid, or
    /// interrupted by the host.
    Outbid,
    ContractEnding,
    /// exited / unknown / offline for more than two intervals while meant to run: the docs say
    /// such an instance does not return to running by itself.
    Down,
}

impl GuardKind {
    pub const ALL: [GuardKind; 9] = [
        GuardKind::MaxRuntime,
        GuardKind::MaxCost,
        GuardKind::Idle,
        GuardKind::Stuck,
        GuardKind::Silent,
        GuardKind::DestroyAfterStop,
        GuardKind::Outbid,
        GuardKind::ContractEnding,
        GuardKind::Down,
    ];

    /// The guard's name in events and in the state file.
    pub fn name(self) -> &'static str {
        match self {
            GuardKind::MaxRuntime => "max_runtime",
            GuardKind::MaxCost => "max_cost",
            GuardKind::Idle => "idle",
            GuardKind::Stuck => "stuck",
            GuardKind::Silent => "silent",
            GuardKind::DestroyAfterStop => "destroy_after_stop",
            GuardKind::Outbid => "outbid",
            GuardKind::ContractEnding => "contract_ending",
            GuardKind::Down => "down",
        }
    }

    pub fn from_name(name: &str) -> Option<GuardKind> {
        GuardKind::ALL.into_iter().find(|g| g.name() == name)
    }

    /// What firing this guard asks of the instance.
    pub fn action(self, config: &Guards) -> Option<ActionKind> {
        match self {
            GuardKind::DestroyAfterStop => Some(ActionKind::Destroy),
            GuardKind::Outbid | GuardKind::ContractEnding | GuardKind::Down => None,
            _ => config.on_guard,
        }
    }
}

/// `gpu_util` as a percentage. The docs call it a fraction while the CLI prints it as a
/// percent, so values above 1 are read as percent and values up to 1 as a fraction. The
/// ambiguous band (0–1 %) is read as the *busier* interpretation: a busy GPU mistaken for an
/// idle one would be stopped, an idle one mistaken for busy only costs one more period.
pub fn util_percent(gpu_util: f64) -> f64 {
    if gpu_util > 1.0 {
        gpu_util
    } else {
        gpu_util * 100.0
    }
}

/// Whether the user (or vastfleet) wants the instance running: `intended_status`.
pub fn intends_running(row: &Instance) -> bool {
    Status::from_actual(row.intended_status.as_deref()) == Status::Running
}

/// The instants (monotonic) the time-based guards measure from.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GuardClock {
    status_since: Option<Duration>,
    stuck_since: Option<Duration>,
    running_since: Option<Duration>,
    idle_since: Option<Duration>,
    last_line_at: Option<Duration>,
    /// The current `stopped` stretch began right after `running`.
    stopped_from_running: bool,
}

impl GuardClock {
    /// Records a status sweep; `previous` is the status before it (after a restart, the one
    /// in the state file).
    pub fn on_status(
        &mut self,
        now: Duration,
        status: &Status,
        previous: Option<&Status>,
        row: Option<&Instance>,
        idle_below: Option<f64>,
    ) {
        let changed = previous != Some(status);
        if *status != Status::Stopped {
            self.stopped_from_running = false;
        } else if changed {
            // A stop seen straight after running; a start still waiting for its GPUs shows
            // `stopped` → `stopped` and never sets this.
            self.stopped_from_running = previous == Some(&Status::Running);
        }
        if changed || self.status_since.is_none() {
            self.status_since = Some(now);
        }
        self.stuck_since = status.is_booting().then(|| self.stuck_since.unwrap_or(now));
        let running = *status == Status::Running;
        self.running_since = running.then(|| self.running_since.unwrap_or(now));
        let idle = running
            && matches!(
                (row.and_then(|r| r.gpu_util), idle_below),
                (Some(util), Some(below)) if util_percent(util) < below
            );
        self.idle_since = idle.then(|| self.idle_since.unwrap_or(now));
    }

    /// Records that new log lines arrived.
    pub fn on_new_lines(&mut self, now: Duration) {
        self.last_line_at = Some(now);
    }

    /// Since when the log has been quiet while running.
    fn quiet_since(&self) -> Option<Duration> {
        let running = self.running_since?;
        Some(self.last_line_at.map_or(running, |line| line.max(running)))
    }
}

/// What the guards look at.
#[derive(Debug, Clone, Copy)]
pub struct GuardInput<'a> {
    pub now: Now,
    /// The current status (`Gone` when the row is absent).
    pub status: &'a Status,
    /// The latest row, `None` when gone.
    pub row: Option<&'a Instance>,
    pub clock: &'a GuardClock,
    pub interval: Duration,
}

/// One guard's verdict: whether its episode state holds, and whether it should fire now
/// (with the detail to report).
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    pub guard: GuardKind,
    pub holds: bool,
    pub fire: Option<String>,
}

/// Seconds as a duration, clamped to what a `Duration` holds (odd API values never panic).
fn seconds(value: f64) -> Duration {
    Duration::try_from_secs_f64(value.max(0.0)).unwrap_or(Duration::MAX)
}

fn human(d: Duration) -> String {
    humantime::format_duration(Duration::from_secs(d.as_secs())).to_string()
}

fn elapsed(now: Duration, since: Option<Duration>) -> Option<Duration> {
    since.map(|s| now.saturating_sub(s))
}

/// Every guard's verdict (a guard that is switched off never holds).
pub fn check(config: &Guards, input: &GuardInput) -> Vec<Check> {
    let mut checks = Vec::new();
    // A vanished instance ends every episode.
    if let Some(row) = input.row.filter(|_| *input.status != Status::Gone) {
        let seen = Seen {
            input,
            row,
            running: *input.status == Status::Running,
            in_status_for: elapsed(input.now.mono, input.clock.status_since),
        };
        limits(config, &seen, &mut checks);
        clocks(config, &seen, &mut checks);
        alerts(config, &seen, &mut checks);
    }
    // A guard switched off ends its episode, so switching it back on arms it afresh.
    for guard in GuardKind::ALL {
        if !checks.iter().any(|c| c.guard == guard) {
            checks.push(Check {
                guard,
                holds: false,
                fire: None,
            });
        }
    }
    checks
}

/// What every guard of a present instance reads.
struct Seen<'a> {
    input: &'a GuardInput<'a>,
    row: &'a Instance,
    running: bool,
    in_status_for: Option<Duration>,
}

/// A state that holds and fires together, with its detail.
fn verdict(guard: GuardKind, holds: bool, fire: Option<String>) -> Check {
    Check {
        guard,
        holds,
        fire: fire.filter(|_| holds),
    }
}

/// The limits on what a run may take, read from the row: its time and its spend.
fn limits(config: &Guards, seen: &Seen, checks: &mut Vec<Check>) {
    let (row, now) = (seen.row, seen.input.now);
    if let Some(limit) = config.max_runtime {
        let uptime = row.start_date.map(|start| seconds(now.wall - start));
        let over = uptime.filter(|up| seen.running && *up >= limit);
        checks.push(verdict(
            GuardKind::MaxRuntime,
            over.is_some(),
            over.map(|up| format!("running for {} (limit {})", human(up), human(limit))),
        ));
    }
    if let Some(limit) = config.max_cost {
        let spent = row
            .spend_estimate(now.wall)
            .filter(|spent| seen.running && *spent >= limit);
        let dph = row.dph_total.unwrap_or_default();
        checks.push(verdict(
            GuardKind::MaxCost,
            spent.is_some(),
            spent.map(|s| format!("about ${s:.2} spent at ${dph:.3}/h (limit ${limit:.2})")),
        ));
    }
}

/// The guards on how long a state has lasted, read from the machine's clock.
fn clocks(config: &Guards, seen: &Seen, checks: &mut Vec<Check>) {
    let (input, mono) = (seen.input, seen.input.now.mono);
    if let Some(IdleGuard {
        gpu_util_below: below,
        duration: period,
    }) = config.idle
    {
        let idle_for = elapsed(mono, input.clock.idle_since);
        checks.push(verdict(
            GuardKind::Idle,
            idle_for.is_some(),
            idle_for
                .filter(|d| *d >= period)
                .map(|d| format!("GPU utilisation below {below}% for {}", human(d))),
        ));
    }
    if let Some(limit) = config.stuck {
        let stuck_for = elapsed(mono, input.clock.stuck_since);
        checks.push(verdict(
            GuardKind::Stuck,
            stuck_for.is_some(),
            stuck_for
                .filter(|d| *d >= limit)
                .map(|d| format!("still {} after {}", input.status, human(d))),
        ));
    }
    if let Some(limit) = config.silent {
        let quiet_for = elapsed(mono, input.clock.quiet_since()).filter(|_| seen.running);
        // The episode is the quiet period: the machine ends it when a new line arrives.
        checks.push(verdict(
            GuardKind::Silent,
            quiet_for.is_some(),
            quiet_for
                .filter(|d| *d >= limit)
                .map(|d| format!("no new log line for {}", human(d))),
        ));
    }
    if let Some(limit) = config.destroy_after_stop {
        let stopped_for = seen
            .in_status_for
            .filter(|_| *input.status == Status::Stopped);
        checks.push(verdict(
            GuardKind::DestroyAfterStop,
            stopped_for.is_some(),
            stopped_for
                .filter(|d| *d >= limit)
                .map(|d| format!("stopped for {}", human(d))),
        ));
    }
}

/// The three alerts, which never act: outbid, the contract ending, down.
fn alerts(config: &Guards, seen: &Seen, checks: &mut Vec<Check>) {
    let (input, row) = (seen.input, seen.row);
    // Only an instance that was running and stopped without being asked: an instance still
    // scheduling after a start (stopped → stopped, now intended to run) is not outbid.
    let outbid = intends_running(row)
        && *input.status == Status::Stopped
        && input.clock.stopped_from_running;
    checks.push(verdict(
        GuardKind::Outbid,
        outbid,
        Some("intended to run but stopped: outbid, or interrupted by the host".to_string()),
    ));
    if let Some(warning) = config.contract_warning.lead() {
        let left = row.end_date.map(|end| end - input.now.wall);
        let ending = left.filter(|left| *left <= warning.as_secs_f64());
        let detail = ending.map(|left| match left {
            l if l >= 0.0 => format!("the contract ends in {}", human(seconds(l))),
            l => format!("the contract ended {} ago", human(seconds(-l))),
        });
        checks.push(verdict(GuardKind::ContractEnding, ending.is_some(), detail));
    }
    // An instance stopped on purpose is not down, whatever its container shows.
    let down_for = seen
        .in_status_for
        .filter(|_| input.status.is_down() && intends_running(row));
    checks.push(verdict(
        GuardKind::Down,
        down_for.is_some(),
        down_for
            .filter(|d| *d > input.interval.saturating_mul(2))
            .map(|d| {
                format!(
                    "{} for {}: it will not return to running by itself",
                    input.status,
                    human(d)
                )
            }),
    ));
}

/// A guard that fired.
#[derive(Debug, Clone, PartialEq)]
pub struct Firing {
    pub guard: GuardKind,
    pub action: Option<ActionKind>,
    pub detail: String,
}

/// The guards whose episode is under way and already fired (durable).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Episodes(BTreeSet<GuardKind>);

impl Episodes {
    pub fn from_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Self {
        Episodes(names.into_iter().filter_map(GuardKind::from_name).collect())
    }

    pub fn names(&self) -> Vec<String> {
        self.0.iter().map(|g| g.name().to_string()).collect()
    }

    /// Ends a guard's episode from outside (a new log line ends a silent period).
    pub fn end(&mut self, guard: GuardKind) -> bool {
        self.0.remove(&guard)
    }

    /// Applies the verdicts: ended episodes re-arm, due guards outside an episode fire.
    /// Returns what fired and whether the set changed.
    pub fn advance(&mut self, config: &Guards, checks: Vec<Check>) -> (Vec<Firing>, bool) {
        let mut fired = Vec::new();
        let mut changed = false;
        for check in checks {
            if !check.holds {
                changed |= self.0.remove(&check.guard);
            } else if let Some(detail) = check.fire {
                if self.0.insert(check.guard) {
                    changed = true;
                    fired.push(Firing {
                        guard: check.guard,
                        action: check.guard.action(config),
                        detail,
                    });
                }
            }
        }
        (fired, changed)
    }
}

#[cfg(test)]
mod tests;
