//! Machine tests: observation sequences in, exact output sequences out. This file holds the
//! harness; each submodule covers one area of the rules.

mod actions;
mod completion;
mod failure;
mod logs;
mod resume;
mod signals;
mod status;

use std::time::Duration;

use regex::Regex;

use crate::api::{ApiError, Instance};
use crate::backoff::{Backoff, Jitter};
use crate::config::settings::Policy;
use crate::monitor::{
    ActionRecord, DurableState, Lines, MachineOptions, MonitorMachine, Now, Observation, Step,
    Trigger,
};
use crate::report::event::{
    ActionKind, Completion, EventKind, Failure, FailureReason, InstanceSummary, JobCost, RunCost,
    Source,
};
use crate::status::Status;

/// A [`Step`] flattened into one sequence, so a test spells an observation's whole answer as
/// one list: the events in order, `Checkpoint` where the step persists, then the action and
/// the fetch.
#[derive(Debug, Clone, PartialEq)]
enum Output {
    Event(EventKind),
    Checkpoint,
    Act(ActionKind),
    FetchLogs { tail: u32 },
}

fn flatten(step: Step) -> Vec<Output> {
    let mut out: Vec<Output> = step.events.into_iter().map(Output::Event).collect();
    out.extend(step.persist.then_some(Output::Checkpoint));
    out.extend(step.act.map(Output::Act));
    out.extend(step.fetch.map(|tail| Output::FetchLogs { tail }));
    out
}

/// The wall clock at mono 0, and the instance's `start_date`.
const WALL0: f64 = 1_761_000_000.0;
const ID: u64 = 7;

fn source() -> Source {
    Source {
        id: ID,
        label: "job".into(),
    }
}

fn policy() -> Policy {
    Policy {
        interval: Duration::from_secs(5),
        max_backoff: Duration::from_secs(60),
        tail: 10,
        history: Some(3),
        completion: std::sync::Arc::new(Regex::new("DONE").unwrap()),
        result: std::sync::Arc::new(Regex::new(r"https?://\S+").unwrap()),
        on_complete: Some(ActionKind::Stop),
        failure: None,
        on_failure: Some(ActionKind::Stop),
        on_exit: None,
        guards: Default::default(),
    }
}

/// The machine's options for `--dry-run`.
fn dry_run() -> MachineOptions {
    MachineOptions {
        dry_run: true,
        ..MachineOptions::default()
    }
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn at(s: u64) -> Now {
    Now {
        mono: secs(s),
        wall: WALL0 + s as f64,
    }
}

fn row(status: Option<&str>) -> Instance {
    Instance {
        id: Some(ID),
        actual_status: status.map(str::to_string),
        // What the API shows after a stop; a user's start turns it back to running.
        intended_status: Some(
            if status == Some("stopped") {
                "stopped"
            } else {
                "running"
            }
            .into(),
        ),
        gpu_name: Some("RTX 4090".into()),
        num_gpus: Some(2),
        dph_total: Some(0.5),
        start_date: Some(WALL0),
        ..Instance::default()
    }
}

fn strings(lines: &[&str]) -> Vec<String> {
    lines.iter().map(|l| l.to_string()).collect()
}

fn ev(kind: EventKind) -> Output {
    Output::Event(kind)
}

fn status(status: &str, previous: Option<&str>) -> Output {
    ev(EventKind::Status {
        source: source(),
        status: status.into(),
        previous: previous.map(Status::parse),
        message: None,
    })
}

fn log(line: &str, history: bool) -> Output {
    ev(EventKind::Log {
        source: source(),
        line: line.into(),
        history,
    })
}

fn new_logs(lines: &[&str]) -> Vec<Output> {
    lines.iter().map(|l| log(l, false)).collect()
}

fn fetch(tail: u32) -> Output {
    Output::FetchLogs { tail }
}

/// The run of the harness's row at `t`: started at `WALL0`, $0.50/hr.
fn run_at(t: u64) -> Option<RunCost> {
    Some(RunCost {
        duration: secs(t),
        cost_usd: Some(0.5 * (t as f64 / 3600.0)),
    })
}

/// The `n`th exit of the container while meant to run, reported at `t`.
fn exit_failure(t: u64, n: u32) -> Output {
    ev(EventKind::Failure(Failure {
        source: source(),
        reason: FailureReason::Exited,
        count: n,
        line: None,
        context: Vec::new(),
        cost: JobCost {
            gpu: Some("2x RTX 4090".into()),
            dph_total: Some(0.5),
            run: run_at(t),
        },
    }))
}

/// A completion reported at `t`.
fn completion(t: u64, count: u32, url: Option<&str>) -> Output {
    ev(EventKind::Completion(Completion {
        source: source(),
        count,
        result_url: url.map(str::to_string),
        cost: JobCost {
            gpu: Some("2x RTX 4090".into()),
            dph_total: Some(0.5),
            run: run_at(t),
        },
    }))
}

fn action(kind: ActionKind, reason: &str, dry_run: bool) -> Output {
    ev(EventKind::Action {
        source: source(),
        action: kind,
        ok: true,
        dry_run,
        reason: reason.into(),
        error: None,
    })
}

fn api_error(attempt: u32, retry_in: Duration, error: &str) -> Output {
    ev(EventKind::ApiError {
        source: Some(source()),
        attempt,
        retry_in,
        error: error.into(),
    })
}

fn transient() -> ApiError {
    ApiError::Transient("HTTP 502".into())
}

/// The waits the machine's per-instance jitter produces for these attempt numbers, in order
/// (the jitter is one deterministic stream per instance, drawn once per failure).
fn expected_waits(attempts: &[(u32, Option<Duration>)]) -> Vec<Duration> {
    let backoff = Backoff::new(policy().interval, policy().max_backoff);
    let mut jitter = Jitter::seeded(ID);
    attempts
        .iter()
        .map(|&(n, after)| backoff.delay(n, jitter.next_unit(), after))
        .collect()
}

/// A machine plus convenience feeders.
struct Harness {
    m: MonitorMachine,
}

impl Harness {
    fn new() -> Self {
        Harness::with(policy(), MachineOptions::default())
    }

    fn with(policy: Policy, options: MachineOptions) -> Self {
        Harness {
            m: MonitorMachine::new(source(), policy, options),
        }
    }

    fn resumed(state: DurableState) -> Self {
        Harness {
            m: MonitorMachine::resume(source(), policy(), MachineOptions::default(), state),
        }
    }

    fn observe(&mut self, now: Now, observation: Observation) -> Vec<Output> {
        flatten(self.m.observe(now, observation))
    }

    fn status(&mut self, t: u64, status: Option<&str>) -> Vec<Output> {
        self.observe(at(t), Observation::Status(Some(row(status))))
    }

    fn row(&mut self, t: u64, row: Instance) -> Vec<Output> {
        self.observe(at(t), Observation::Status(Some(row)))
    }

    fn gone(&mut self, t: u64) -> Vec<Output> {
        self.observe(at(t), Observation::Status(None))
    }

    fn logs(&mut self, t: u64, lines: &[&str]) -> Vec<Output> {
        self.observe(at(t), Observation::Logs(Ok(strings(lines))))
    }

    fn logs_err(&mut self, t: u64, error: ApiError) -> Vec<Output> {
        self.observe(at(t), Observation::Logs(Err(error)))
    }

    fn done(&mut self, t: u64, action: ActionKind, result: Result<(), ApiError>) -> Vec<Output> {
        self.observe(at(t), Observation::ActionDone { action, result })
    }

    fn tick(&mut self, t: u64) -> Vec<Output> {
        self.observe(at(t), Observation::Tick)
    }

    /// Under `policy` and `options`: running at 0 s with the history ["boot"] taken and the
    /// first poll (5 s) done; what its new line `line` printed.
    fn first_new_line(policy: Policy, options: MachineOptions, line: &str) -> (Self, Vec<Output>) {
        let mut h = Harness::with(policy, options);
        h.status(0, Some("running"));
        h.logs(0, &["boot"]);
        h.tick(5);
        let out = h.logs(5, &["boot", line]);
        (h, out)
    }

    /// Running at `t` with the history snapshot `lines` (10 lines asked for) already taken.
    fn started(lines: &[&str]) -> Self {
        let mut h = Harness::new();
        assert_eq!(
            h.status(0, Some("running")),
            [status("running", None), Output::Checkpoint, fetch(10)]
        );
        h.logs(0, lines);
        h
    }
}
