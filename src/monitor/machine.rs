//! The monitor's pure decision machine: one instance's rules, with no IO and no clock of its
//! own. The async shell feeds it observations (a status row, a log snapshot, an action's
//! result, a tick) stamped with the time, and carries out what comes back: events to report,
//! logs to fetch, actions to take, state to persist, and when to wake it next: one [`Step`]
//! per observation, whose docs give the order the shell carries it out in.

use std::time::Duration;

use crate::api::{sanity, ApiError, Instance};
use crate::backoff::{Backoff, Jitter};
use crate::config::settings::Policy;
use crate::monitor::actions::{ActionBook, Ctx};
use crate::monitor::durable::{ActionRecord, DurableState, Trigger};
use crate::monitor::failures;
use crate::monitor::guards::{self, Episodes, GuardClock, GuardInput, GuardKind};
use crate::monitor::logs::{Found, LogFollower};
use crate::monitor::pace::PaceMeter;
pub use crate::monitor::protocol::{MachineOptions, Now, Observation, Step};
use crate::monitor::signals::{self, SignalKind, Signals};
use crate::report::event::{ActionKind, Completion, EventKind, Failure, InstanceSummary, Source};
use crate::schedule::Pace;
use crate::status::Status;

/// Log polling state.
#[derive(Debug, Clone, Default)]
struct Fetch {
    /// The tail of the fetch in flight.
    in_flight: Option<u32>,
    /// When the next fetch is due (while running).
    next_at: Option<Duration>,
    /// Consecutive failures.
    failures: u32,
    /// One of them was said, so their end is worth a `Recovered` line too.
    said: bool,
    /// The logs call said "not found": the next status sweep decides (gone, or try again).
    await_status: bool,
    /// The instance just left `running`: one more fetch picks up the lines it printed between
    /// the last poll and its exit (often the completion line itself).
    last_call: bool,
}

/// One instance's watcher. See the module docs.
#[derive(Debug, Clone)]
pub struct MonitorMachine {
    source: Source,
    policy: Policy,
    options: MachineOptions,
    jitter: Jitter,
    /// The last status (durable).
    status: Option<Status>,
    /// When the latest status row arrived; `None` until one has since this machine was made (a
    /// resumed one waits for it).
    status_at: Option<Duration>,
    /// The last row the API returned.
    row: Option<Instance>,
    logs: LogFollower,
    fetch: Fetch,
    actions: ActionBook,
    clock: GuardClock,
    episodes: Episodes,
    /// Running instances in the latest sweep: each fetches logs before our next turn.
    fleet_running: usize,
    signals: Signals,
    /// The heaviest signal since the shell last asked ([`MonitorMachine::take_signal`]).
    signal: Option<SignalKind>,
    /// The GPU was busy at the first sweep of a fresh start (evidence for the first read).
    busy_at_start: Option<bool>,
    pace: PaceMeter,
    /// Exits of the container while meant to run (durable).
    exits: u32,
    /// See [`DurableState::failure_episode`].
    failure_episode: bool,
    /// The wall clock of the latest observation, for the summary's spend estimate.
    wall: f64,
    /// The impossible fields of the rows, as last said (empty once a row makes sense again).
    impossible: Vec<sanity::Field>,
}

impl MonitorMachine {
    pub fn new(source: Source, policy: Policy, options: MachineOptions) -> Self {
        MonitorMachine {
            jitter: Jitter::seeded(source.id),
            source,
            logs: LogFollower::new(policy.tail),
            policy,
            options,
            status: None,
            status_at: None,
            row: None,
            fetch: Fetch::default(),
            actions: ActionBook::new(Vec::new()),
            clock: GuardClock::default(),
            episodes: Episodes::default(),
            fleet_running: 0,
            signals: Signals::default(),
            signal: None,
            busy_at_start: None,
            pace: PaceMeter::default(),
            exits: 0,
            failure_episode: false,
            wall: 0.0,
            impossible: Vec::new(),
        }
    }

    /// A machine after a restart of vastfleet: the log continues from the cursor (no history
    /// again), counts go on, intended actions are checked at the first status sweep.
    pub fn resume(
        source: Source,
        policy: Policy,
        options: MachineOptions,
        state: DurableState,
    ) -> Self {
        let mut machine = MonitorMachine::new(source, policy, options);
        machine.logs = LogFollower::resume(machine.policy.tail, &state);
        machine.episodes = Episodes::from_names(state.guard_episodes.iter().map(String::as_str));
        machine.actions = ActionBook::new(state.actions);
        machine.status = state.last_status;
        machine.exits = state.exits;
        machine.failure_episode = state.failure_episode;
        machine
    }

    /// The fleet's running instances, from the sweep about to be observed.
    pub fn set_fleet_running(&mut self, running: usize) {
        self.fleet_running = running;
    }

    pub fn set_guards(&mut self, guards: crate::config::Guards) {
        self.policy.guards = guards;
    }

    pub fn source(&self) -> &Source {
        &self.source
    }

    /// The heaviest end-of-job signal the sweeps showed since the last call: the shell moves
    /// this instance's next log fetch forward with it.
    pub fn take_signal(&mut self) -> Option<SignalKind> {
        self.signal.take()
    }

    /// How fast this log grows, for the log queue's pace.
    pub fn pace(&self) -> Pace {
        self.pace.pace()
    }

    pub fn observe(&mut self, now: Now, observation: Observation) -> Step {
        let mut out = Step::default();
        self.wall = now.wall;
        match observation {
            Observation::Status(row) => self.on_status(now, row, &mut out),
            Observation::Logs(result) => self.on_logs(now, result, &mut out),
            Observation::ActionDone { action, result } => {
                let mut cx = ctx(&self.source, &self.policy, &mut self.jitter, now, &mut out);
                self.actions.done(action, result, &mut cx);
            }
            Observation::PolicyChanged(policy) => {
                self.logs.policy_changed(self.policy.tail, policy.tail);
                self.policy = policy;
            }
            Observation::Tick => {}
        }
        self.run_guards(now, &mut out);
        self.drive(now, &mut out);
        out
    }

    /// The monotonic instant at which the shell must send `Tick`; `None` = only on new status.
    pub fn next_wake(&self) -> Option<Duration> {
        [self.fetch_wake(), self.actions.next_wake()]
            .into_iter()
            .flatten()
            .min()
    }

    pub fn durable(&self) -> DurableState {
        let mut state = DurableState {
            actions: self.actions.records().to_vec(),
            last_status: self.status.clone(),
            guard_episodes: self.episodes.names(),
            exits: self.exits,
            failure_episode: self.failure_episode,
            ..DurableState::default()
        };
        self.logs.write_durable(&mut state);
        state
    }

    pub fn summary(&self) -> InstanceSummary {
        InstanceSummary {
            source: self.source.clone(),
            status: self.status.clone(),
            completions: self.logs.completions(),
            failures: self.logs.failures().saturating_add(self.exits),
            actions: self.actions.taken(),
            dph_total: self.row.as_ref().and_then(|r| r.dph_total),
            spend_usd: self.row.as_ref().and_then(|r| r.spend_usd(self.wall)),
        }
    }

    pub fn last_status(&self) -> Option<&Status> {
        self.status.as_ref()
    }

    fn on_status(&mut self, now: Now, row: Option<Instance>, out: &mut Step) {
        let row = row.map(|row| self.without_impossible(now, row, out));
        let status = Status::of(row.as_ref());
        let previous = self.status.take();
        let changed = previous.as_ref() != Some(&status);
        let was_running = self.status_at.is_some() && previous == Some(Status::Running);
        let first = self.status_at.replace(now.mono).is_none();
        // The first sweep of a run says every status once, changed or not (issue 14): after a
        // restart the stream would otherwise never show an unchanged instance's state.
        if changed || first {
            out.event(EventKind::Status {
                source: self.source.clone(),
                status: status.clone(),
                previous: previous.clone(),
                message: row.as_ref().and_then(status_message),
            });
        }
        if changed {
            out.checkpoint();
        }
        if first && !self.logs.history_shown() {
            self.busy_at_start = row.as_ref().map(signals::gpu_busy);
        }
        if status == Status::Running && (changed || first) {
            self.fetch.next_at = Some(now.mono);
        }
        if let Some(kind) = self
            .signals
            .observe(row.as_ref(), status == Status::Running)
        {
            self.on_signal(now, kind);
        }
        if was_running && changed && status != Status::Gone && self.fetch.in_flight.is_none() {
            self.fetch.last_call = true;
            self.fetch.next_at = Some(now.mono);
        }
        self.fetch.await_status = false;
        let idle_below = self.policy.guards.idle.map(|idle| idle.gpu_util_below);
        self.clock.on_status(
            now.mono,
            &status,
            previous.as_ref(),
            row.as_ref(),
            idle_below,
        );
        let started = failures::running_as_meant(Some(&status), row.as_ref());
        if changed && started && std::mem::take(&mut self.failure_episode) {
            out.checkpoint(); // started again: the next failure is a new episode
        }
        let exited = failures::exited_while_meant_to_run(previous.as_ref(), &status, row.as_ref());
        self.status = Some(status);
        if row.is_some() {
            self.row = row;
        }
        if exited {
            self.exit(now, out);
        }
        // Only a running row's idle GPU confirms: a stop (the user's, a guard's) after the
        // first read is no evidence that the completion it found was new.
        let ended = self.status == Some(Status::Running) && self.ended_while_watched();
        let found = self.logs.row_seen(&self.policy, ended);
        if !found.is_empty() {
            out.checkpoint();
        }
        for found in found {
            self.complete(now, found, out);
        }
    }

    /// `row` without the numbers no real instance has (issue 17): guards must not stop a
    /// healthy job over a `start_date` of 0. Said once while the row keeps lying.
    fn without_impossible(&mut self, now: Now, row: Instance, out: &mut Step) -> Instance {
        let (row, bad) = sanity::without_impossible(row, now.wall);
        if !bad.is_empty() && bad != self.impossible {
            let names: Vec<&str> = bad.iter().map(|field| field.as_str()).collect();
            out.event(EventKind::Note {
                source: self.source.clone(),
                message: format!(
                    "the API sent impossible values ({}); guards and the budget ignore them \
                     while the rows keep them",
                    names.join(", ")
                ),
            });
        }
        self.impossible = bad;
        row
    }

    /// A sweep showed the job ending or breaking: read the log soon. The queue decides how
    /// soon (once per episode, within the fairness bound); an instance waiting out its interval
    /// joins the queue now.
    fn on_signal(&mut self, now: Now, kind: SignalKind) {
        self.signal = self.signal.max(Some(kind));
        let idle = self.fetch.in_flight.is_none() && !self.fetch.await_status;
        if idle && self.fetch.next_at.is_some_and(|at| at > now.mono) {
            self.fetch.next_at = Some(now.mono);
        }
    }

    /// The "old or new" evidence of issue 18: the GPU was busy at the first sweep after a fresh
    /// start and the latest sweep shows it idle, so the job ended while we watched.
    fn ended_while_watched(&self) -> bool {
        let running = self.status == Some(Status::Running);
        self.busy_at_start == Some(true)
            && self
                .row
                .as_ref()
                .is_some_and(|row| signals::gpu_idle(row, running))
    }

    fn on_logs(&mut self, now: Now, result: Result<Vec<String>, ApiError>, out: &mut Step) {
        let requested = self
            .fetch
            .in_flight
            .take()
            .unwrap_or_else(|| self.logs.tail());
        let last_call = std::mem::take(&mut self.fetch.last_call);
        let lines = match result {
            Ok(lines) => lines,
            Err(error) => return self.on_logs_failed(now, error, out),
        };
        let failed_attempts = std::mem::take(&mut self.fetch.failures);
        if std::mem::take(&mut self.fetch.said) {
            out.event(EventKind::Recovered {
                source: Some(self.source.clone()),
                failed_attempts,
            });
        }
        self.fetch.next_at = Some(now.mono.saturating_add(self.policy.interval));
        let ended = self.ended_while_watched();
        let report = self
            .logs
            .process(&self.source, &self.policy, lines, requested, ended);
        if report.history.is_none() {
            self.pace
                .after(report.new_lines, requested, report.look_again);
        }
        if report.look_again {
            // Look again at once, further back; nothing of this snapshot is printed.
            self.fetch.last_call = last_call;
            self.fetch.next_at = Some(now.mono);
            return;
        }
        if let Some(lines) = report.history {
            let age = self.row.as_ref().and_then(|row| row.uptime(now.wall));
            let gap = self.expected_snapshot_gap();
            self.logs
                .size_after_history(self.policy.tail, lines, gap, age);
        }
        report.events.into_iter().for_each(|event| out.event(event));
        if report.durable_changed {
            out.checkpoint();
        }
        if report.new_lines > 0 {
            self.clock.on_new_lines(now.mono);
            if self.episodes.end(GuardKind::Silent) {
                out.checkpoint();
            }
        }
        for found in report.completions {
            self.complete(now, found, out);
        }
        for found in report.failures {
            let failure = failures::log_failure(&self.source, self.row.as_ref(), now, found);
            self.fail(failure, out);
        }
    }

    /// The container left `running` for `exited` while meant to run: a failure of its own.
    fn exit(&mut self, now: Now, out: &mut Step) {
        self.exits = self.exits.saturating_add(1);
        out.checkpoint();
        let failure = failures::exit_failure(&self.source, self.row.as_ref(), now, self.exits);
        let trigger = Trigger::Exited(self.exits);
        out.event(EventKind::Failure(failure));
        if let Some(kind) = self.policy.on_exit {
            self.act_on_failure(kind, trigger, out);
        }
    }

    fn fail(&mut self, failure: Failure, out: &mut Step) {
        let count = failure.count;
        out.event(EventKind::Failure(failure));
        if let Some(kind) = self.policy.on_failure {
            self.act_on_failure(kind, Trigger::Failure(count), out);
        }
    }

    /// One action per failure episode (issue 13): once a failure was acted on, more failures
    /// while the instance is down (an exit, then the Traceback its last log read brings) are
    /// the same failure. One seen while it still runs is acted on: the instance was started
    /// again, or the first action has not taken (its verification would retry it anyway).
    fn act_on_failure(&mut self, kind: ActionKind, trigger: Trigger, out: &mut Step) {
        if !failures::acts(
            self.failure_episode,
            self.status.as_ref(),
            self.row.as_ref(),
        ) {
            return;
        }
        if !std::mem::replace(&mut self.failure_episode, true) {
            out.checkpoint();
        }
        self.act_for(kind, trigger, out);
    }

    fn on_logs_failed(&mut self, now: Now, error: ApiError, out: &mut Step) {
        if self.status != Some(Status::Running) {
            return; // polling is paused: there is nothing to retry
        }
        self.fetch.failures = self.fetch.failures.saturating_add(1);
        // "Not found" means the instance vanished, or is about to (a destroy just went out):
        // the next status sweep decides — gone, or poll again at the base pace. Only a second
        // one in a row, for an instance the sweeps still list, is worth a line.
        let not_found = matches!(error, ApiError::NotFound(_));
        let attempt = if not_found { 1 } else { self.fetch.failures };
        let retry_in = self
            .backoff()
            .retry_delay(attempt, self.jitter.next_unit(), &error);
        self.fetch.await_status = not_found;
        self.fetch.next_at = Some(now.mono.saturating_add(retry_in));
        // A refused key is the fleet's, not this instance's: the status sweep, on the same key
        // at every interval, says it once per episode (issue 12: one line per instance per
        // retry buried everything else while a revoked key was ridden out).
        let refused = matches!(error, ApiError::Unauthorized { .. });
        if refused || (not_found && self.fetch.failures == 1) {
            return;
        }
        self.fetch.said = true;
        out.event(EventKind::ApiError {
            source: Some(self.source.clone()),
            attempt: self.fetch.failures,
            retry_in,
            error: format!("logs failed: {error}"),
        });
    }

    fn complete(&mut self, now: Now, found: Found, out: &mut Step) {
        let row = self.row.as_ref();
        out.event(EventKind::Completion(Completion {
            source: self.source.clone(),
            count: found.number,
            result_url: found.result_url,
            cost: failures::job_cost(row, now.wall),
        }));
        if let Some(kind) = self.policy.on_complete {
            self.act_for(kind, Trigger::Completion(found.number), out);
        }
    }

    /// Asks for an action, or only reports it under `--dry-run`.
    fn act_for(&mut self, kind: ActionKind, trigger: Trigger, out: &mut Step) {
        if self.options.dry_run {
            let reason = ActionRecord {
                kind,
                trigger,
                done: false,
            }
            .reason();
            out.event(EventKind::Action {
                source: self.source.clone(),
                action: kind,
                ok: true,
                dry_run: true,
                reason,
                error: None,
            });
        } else {
            self.actions.request(kind, trigger, out);
        }
    }

    fn run_guards(&mut self, now: Now, out: &mut Step) {
        let Some(status) = self.status.as_ref().filter(|_| self.status_at.is_some()) else {
            return;
        };
        let input = GuardInput {
            now,
            status,
            row: self.row.as_ref(),
            clock: &self.clock,
            interval: self.policy.interval,
        };
        let checks = guards::check(&self.policy.guards, &input);
        let (fired, changed) = self.episodes.advance(&self.policy.guards, checks);
        if changed {
            out.checkpoint();
        }
        for firing in fired {
            let name = firing.guard.name().to_string();
            out.event(EventKind::Guard {
                source: self.source.clone(),
                guard: name.clone(),
                action: firing.action,
                detail: firing.detail,
            });
            if let Some(kind) = firing.action {
                self.act_for(kind, Trigger::Guard(name), out);
            }
        }
    }

    /// Issues whatever is due: an action (first, so a stop is not delayed by a log fetch),
    /// then a log fetch.
    fn drive(&mut self, now: Now, out: &mut Step) {
        let status = self.status.as_ref().zip(self.status_at);
        let mut cx = ctx(&self.source, &self.policy, &mut self.jitter, now, out);
        self.actions.drive(status, &mut cx);
        if self.fetch_wake().is_some_and(|at| at <= now.mono) {
            let tail = self.logs.tail();
            self.fetch.in_flight = Some(tail);
            out.fetch(tail);
        }
    }

    fn fetch_wake(&self) -> Option<Duration> {
        let idle = self.fetch.in_flight.is_none() && !self.fetch.await_status;
        let running = self.status == Some(Status::Running) && self.status_at.is_some();
        self.fetch
            .next_at
            .filter(|_| idle && (running || self.fetch.last_call))
    }

    /// How long until the next snapshot, as far as can be told now: the interval, then a turn
    /// in the fleet's queue of log fetches.
    fn expected_snapshot_gap(&self) -> Duration {
        let queue = u32::try_from(self.fleet_running).unwrap_or(u32::MAX);
        let turn = self.options.fetch_spacing.saturating_mul(queue);
        // A quiet log waits up to the fairness bound; its tail must still cover that.
        self.policy.interval + turn.mul_f64(self.pace.pace().factor().max(1.0))
    }

    fn backoff(&self) -> Backoff {
        Backoff::new(self.policy.interval, self.policy.max_backoff)
    }
}

fn ctx<'a>(
    source: &'a Source,
    policy: &Policy,
    jitter: &'a mut Jitter,
    now: Now,
    out: &'a mut Step,
) -> Ctx<'a> {
    Ctx {
        now: now.mono,
        source,
        backoff: Backoff::new(policy.interval, policy.max_backoff),
        grace: verification_grace(policy.interval),
        jitter,
        out,
    }
}

/// How long a done action's effect may take to show in the status sweeps.
pub fn verification_grace(interval: Duration) -> Duration {
    interval.saturating_mul(3).max(Duration::from_secs(30))
}

fn status_message(row: &Instance) -> Option<String> {
    row.status_msg
        .as_deref()
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .map(str::to_string)
}
