//! The machine's vocabulary: the time stamp and the observations that go in, the outputs that
//! come out, and the batch that orders one observation's outputs.

use std::time::Duration;

use crate::api::{ApiError, Instance};
use crate::config::settings::Policy;
#[cfg(doc)]
use crate::monitor::MonitorMachine;
use crate::report::event::{ActionKind, EventKind};

/// The time of an observation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Now {
    /// Monotonic, since an arbitrary origin: every deadline of the machine is on this clock.
    pub mono: Duration,
    /// Epoch seconds, for comparing with the API's `start_date` / `end_date`.
    pub wall: f64,
}

/// What the shell tells the machine.
#[derive(Debug, Clone, PartialEq)]
pub enum Observation {
    /// This instance's row from the latest fleet-wide list sweep; `None` = absent (gone).
    Status(Option<Instance>),
    /// The answer to [`Output::FetchLogs`]: the last `tail` lines.
    Logs(Result<Vec<String>, ApiError>),
    /// The answer to [`Output::Act`].
    ActionDone {
        action: ActionKind,
        result: Result<(), ApiError>,
    },
    /// A live reload; applies from the next poll.
    PolicyChanged(Policy),
    /// The time the machine asked for ([`MonitorMachine::next_wake`]) has come.
    Tick,
}

/// What the machine asks of the shell.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    Event(EventKind),
    /// Call `api.logs(id, tail)`, then observe [`Observation::Logs`].
    FetchLogs {
        tail: u32,
    },
    /// Call stop / destroy, then observe [`Observation::ActionDone`].
    Act(ActionKind),
    /// Durable state changed: persist [`MonitorMachine::durable`] before executing any later
    /// `Act` of the same batch. At most one per batch: `durable()`, read after `observe`
    /// returned, already holds every change of the batch.
    Checkpoint,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MachineOptions {
    /// Report actions instead of taking them.
    pub dry_run: bool,
    /// The least time between two log fetches of the fleet (the API's request_logs gap): with
    /// the number of running instances it predicts how long until this monitor's next turn.
    pub fetch_spacing: Duration,
}

/// The outputs of one observation.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    outputs: Vec<Output>,
    dirty: bool,
    checkpointed: bool,
}

impl Batch {
    pub fn event(&mut self, kind: EventKind) {
        self.outputs.push(Output::Event(kind));
    }

    /// Durable state changed. The shell reads `durable()` after the whole observation, so one
    /// `Checkpoint` per batch is enough, as long as it comes before the first `Act`.
    pub fn checkpoint(&mut self) {
        self.dirty = true;
    }

    pub fn act(&mut self, kind: ActionKind) {
        self.flush_checkpoint();
        self.outputs.push(Output::Act(kind));
    }

    pub fn fetch(&mut self, tail: u32) {
        self.flush_checkpoint();
        self.outputs.push(Output::FetchLogs { tail });
    }

    fn flush_checkpoint(&mut self) {
        if self.dirty && !self.checkpointed {
            self.checkpointed = true;
            self.outputs.push(Output::Checkpoint);
        }
    }

    pub fn finish(mut self) -> Vec<Output> {
        self.flush_checkpoint();
        self.outputs
    }
}
