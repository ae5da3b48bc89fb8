//! Failed jobs: the `failure` event of a log line matching the failure pattern, and of a
//! container that left `running` for `exited` while it was meant to run (a crash, or a job that
//! ended without its completion line). The log follower finds the matches; this file decides
//! what an exit is and builds both events with the instance's price and the run's cost.

use crate::api::Instance;
use crate::monitor::guards::intends_running;
use crate::monitor::logs::FoundFailure;
use crate::monitor::machine::Now;
use crate::report::event::{Failure, FailureReason, JobCost, RunCost, Source};
use crate::status::Status;

/// What `row` says a job's end cost at `wall` (epoch seconds).
pub fn job_cost(row: Option<&Instance>, wall: f64) -> JobCost {
    JobCost {
        gpu: row.and_then(Instance::gpu_label),
        dph_total: row.and_then(|r| r.dph_total),
        run: row.and_then(|r| run_cost(r, wall)),
    }
}

/// How long the instance has run and what it cost, at `wall` (epoch seconds).
fn run_cost(row: &Instance, wall: f64) -> Option<RunCost> {
    Some(RunCost {
        duration: row.uptime(wall)?,
        cost_usd: row.spend_usd(wall),
    })
}

/// Whether this sweep shows the container exiting on its own: it was `running`, it is
/// `exited`, and nobody asked it to stop (`intended_status` is still running). One episode
/// per exit: the next sweeps see `exited` → `exited`, which is no exit.
pub fn exited_while_meant_to_run(
    previous: Option<&Status>,
    status: &Status,
    row: Option<&Instance>,
) -> bool {
    previous == Some(&Status::Running)
        && *status == Status::Exited
        && row.is_some_and(intends_running)
}

/// Running and meant to: started (again) by someone. A container still `running` while our
/// stop takes effect (`intended_status` already stopped) is not.
pub fn running_as_meant(status: Option<&Status>, row: Option<&Instance>) -> bool {
    status == Some(&Status::Running) && row.is_some_and(intends_running)
}

/// Whether a failure gets its policy's action: always, unless a failure was acted on already
/// in this episode and the instance has not been started again since.
pub fn acts(episode_open: bool, status: Option<&Status>, row: Option<&Instance>) -> bool {
    !episode_open || running_as_meant(status, row)
}

pub fn log_failure(
    source: &Source,
    row: Option<&Instance>,
    now: Now,
    found: FoundFailure,
) -> Failure {
    Failure {
        source: source.clone(),
        reason: FailureReason::Log,
        count: found.number,
        line: Some(found.line),
        context: found.context,
        cost: job_cost(row, now.wall),
    }
}

pub fn exit_failure(source: &Source, row: Option<&Instance>, now: Now, number: u32) -> Failure {
    Failure {
        source: source.clone(),
        reason: FailureReason::Exited,
        count: number,
        line: None,
        context: Vec::new(),
        cost: job_cost(row, now.wall),
    }
}
