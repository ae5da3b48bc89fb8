//! The machine's vocabulary: the time stamp and the observations that go in, and the step that
//! comes out of each (with the persistence contract the shell follows).

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
    /// The answer to [`Step::fetch`]: the last `tail` lines.
    Logs(Result<Vec<String>, ApiError>),
    /// The answer to [`Step::act`].
    ActionDone {
        action: ActionKind,
        result: Result<(), ApiError>,
    },
    /// A live reload; applies from the next poll.
    PolicyChanged(Policy),
    /// The time the machine asked for ([`MonitorMachine::next_wake`]) has come.
    Tick,
}

/// What one observation asks of the shell, carried out in this order: save
/// [`MonitorMachine::durable`] if `persist`, print `events`, take `act`, fetch `fetch`.
///
/// The persistence contract, decided here and nowhere else (the shell and the state store
/// follow it):
/// - **Saved before printed.** A step that changed durable state (the log cursor, a status,
///   an intended action) is on disk before any of its events is printed: after a `kill -9` the
///   restarted watcher knows every line the stream showed, so none is shown twice. The
///   trade-off: the step's events wait for the store's write (its coalescing window), and the
///   window left is the other way round, written but not yet printed: a kill there leaves
///   those lines unprinted (the next run goes on after the saved cursor). It lasts only as
///   long as the hand-over to the writer.
/// - **Written ahead of an action.** Everything saved is on disk before an action is taken,
///   so a restart can never repeat or forget it.
///
/// `durable()` is read once, after `observe` returned: it holds every change of the step.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Step {
    /// Durable state changed: save it before anything else of this step goes out.
    pub persist: bool,
    pub events: Vec<EventKind>,
    /// Call stop / destroy, then observe [`Observation::ActionDone`]. At most one at a time:
    /// the next one waits for this one's answer.
    pub act: Option<ActionKind>,
    /// Call `api.logs(id, tail)` with this tail, then observe [`Observation::Logs`].
    pub fetch: Option<u32>,
}

impl Step {
    pub(crate) fn event(&mut self, kind: EventKind) {
        self.events.push(kind);
    }

    /// Durable state changed.
    pub(crate) fn checkpoint(&mut self) {
        self.persist = true;
    }

    pub(crate) fn act(&mut self, kind: ActionKind) {
        debug_assert!(self.act.is_none(), "one action per step");
        self.act = Some(kind);
    }

    pub(crate) fn fetch(&mut self, tail: u32) {
        self.fetch = Some(tail);
    }

    /// Nothing to do.
    pub fn is_empty(&self) -> bool {
        !self.persist && self.events.is_empty() && self.act.is_none() && self.fetch.is_none()
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MachineOptions {
    /// Report actions instead of taking them.
    pub dry_run: bool,
    /// The least time between two log fetches of the fleet (the API's request_logs gap): with
    /// the number of running instances it predicts how long until this monitor's next turn.
    pub fetch_spacing: Duration,
}
