//! The thin async shell around one [`MonitorMachine`]: it waits for what the machine asked for
//! (a status row, a tick, a policy change), performs the machine's requests against the API,
//! and feeds the answers back. No product rule lives here.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::api::Instance;
use crate::api::{Api, ApiError, LogTail};
use crate::config::Policy;
use crate::feed::{PageRow, RowSlot, Sweep, SweepSlot};
use crate::fleet::Shared;
use crate::monitor::machine::{MonitorMachine, Now, Observation, Step};
use crate::report::event::{ActionKind, Event, EventKind};

/// Steps an idle monitor keeps room for: the queue rarely holds more than two.
const IDLE_QUEUE: usize = 2;

/// Everything one monitor task needs besides its machine: the fleet's shared context, and its
/// own ends of the fleet's channels.
pub struct MonitorIo<A> {
    pub fleet: Arc<Shared<A>>,
    pub id: u64,
    pub policy: watch::Receiver<Policy>,
    pub cancel: CancellationToken,
    /// The fleet-wide status sweeps; the monitor reads its own row.
    sweeps: watch::Receiver<SweepSlot>,
    /// Our row of the sweep under way, as soon as its page arrives.
    pages: watch::Receiver<RowSlot>,
}

impl<A> MonitorIo<A> {
    pub fn new(
        fleet: Arc<Shared<A>>,
        id: u64,
        policy: watch::Receiver<Policy>,
        cancel: CancellationToken,
    ) -> Self {
        let (sweeps, pages) = (fleet.sweeps.clone(), fleet.pages.subscribe(id));
        MonitorIo {
            fleet,
            id,
            policy,
            cancel,
            sweeps,
            pages,
        }
    }

    /// Reports `kind`. The writer only goes away at shutdown; nothing to do about it then.
    async fn emit(&self, kind: EventKind) {
        let _ = self.fleet.ctx.events.send(Event::now(kind)).await;
    }
}

/// Runs until cancelled, then hands the machine back for the shutdown summary.
pub fn run<A: Api>(
    machine: MonitorMachine,
    io: MonitorIo<A>,
) -> impl std::future::Future<Output = MonitorMachine> {
    // The shell is built before the future, which then holds only it: a future that builds it
    // keeps its arguments beside it as well, a kilobyte more per monitor.
    let mut shell = Shell {
        machine,
        io,
        queue: VecDeque::new(),
        fetching: None,
        acting: None,
        fetched: None,
        cut_said: false,
        observed: 0,
    };
    async move {
        shell.run().await;
        shell.machine
    }
}

/// A log fetch under way, boxed: an HTTP call's future is kilobytes, and inline it would make
/// every idle monitor of a large fleet that big.
type Fetching = Pin<Box<dyn Future<Output = Result<LogTail, ApiError>> + Send>>;

/// An action under way; boxed like a fetch.
type Acting = Pin<Box<dyn Future<Output = Result<(), ApiError>> + Send>>;

/// One monitor's loop state around its machine.
///
/// What is heard depends on what is in flight. Idle: the sweeps, the policy, the clock. A
/// fetch may wait its turn behind the whole fleet's (about a second per running instance), or
/// out a storm on request_logs, so beside it the sweeps and the clock are still heard: their
/// events (a stop, say) go out at once, and an action they ask for (a guard's stop) goes out
/// beside the fetch, not behind it, waiting only for its own endpoint (issue 11); what else
/// they ask for waits for the fetch, which doubles as the last look at the log of an instance
/// that left. An action alone, or one still under way when its fetch answered, is waited out:
/// its answer comes before the fetch's.
struct Shell<A> {
    machine: MonitorMachine,
    io: MonitorIo<A>,
    /// Steps whose events, action or fetch wait for what is in flight, in order.
    queue: VecDeque<Step>,
    fetching: Option<Fetching>,
    acting: Option<(ActionKind, Acting)>,
    /// A fetch's lines, held until the action that went out beside it is answered.
    fetched: Option<Result<Vec<String>, ApiError>>,
    /// A cut log body is said once per episode, not at every poll.
    cut_said: bool,
    /// The number of the sweep whose row (or absence) the machine last observed: one
    /// observation per sweep, from the row's page when it was heard, else from the finished
    /// sweep, which alone can say the row is absent.
    observed: u64,
}

/// What one wait of the loop brought.
#[allow(clippy::large_enum_variant)] // made and matched in one turn of the loop, never kept
enum Heard {
    Observation(Observation),
    Fetched(Result<LogTail, ApiError>),
    Nothing,
    /// Cancelled, or the fleet is shutting down.
    Stop,
}

impl<A: Api> Shell<A> {
    async fn run(&mut self) {
        // A row that arrived before this task started is still news to the machine.
        let io = &mut self.io;
        let first = io
            .sweeps
            .borrow_and_update()
            .as_ref()
            .and_then(|sweep| from_sweep(&mut self.machine, &mut self.observed, sweep, io.id));
        if let Some(row) = first {
            Box::pin(self.observe(Observation::Status(row))).await;
        }
        // What happens between waits is boxed, allocated only while it runs: inline, the
        // largest of those futures would be held by every idle monitor (boxing them took a
        // monitor's task from 6.4 kB to 4.0; building the shell outside it, to 2.8).
        loop {
            if !self.queue.is_empty() {
                Box::pin(self.advance()).await;
            }
            match self.hear().await {
                Heard::Observation(observation) => Box::pin(self.observe(observation)).await,
                Heard::Fetched(result) => {
                    let lines = Box::pin(self.after_fetch(result)).await;
                    self.fetched = Some(lines);
                }
                Heard::Nothing => {}
                Heard::Stop => return,
            }
            if self.acting.is_none() {
                if let Some(lines) = self.fetched.take() {
                    Box::pin(self.observe(Observation::Logs(lines))).await;
                }
            }
        }
    }

    /// Carries out the queued steps in order while nothing is in flight.
    async fn advance(&mut self) {
        while self.fetching.is_none() && self.acting.is_none() {
            let Some(step) = self.queue.front_mut() else {
                // A burst of steps must not leave an idle monitor holding room for it (a
                // thousand monitors kept tens of MB that way).
                self.queue.shrink_to(IDLE_QUEUE);
                return;
            };
            for kind in step.events.drain(..) {
                self.io.emit(kind).await;
            }
            if let Some(action) = step.act.take() {
                self.acting = Some((action, start_action(&self.io, action).await));
                continue;
            }
            if let Some(tail) = step.fetch.take() {
                let (api, id) = (Arc::clone(&self.io.fleet.ctx.api), self.io.id);
                self.fetching = Some(Box::pin(async move { api.logs(id, tail).await }));
            }
            self.queue.pop_front();
        }
    }

    /// Waits for the next thing worth the machine's attention (see [`Shell`] for what is heard
    /// when).
    async fn hear(&mut self) -> Heard {
        let fetching = self.fetching.is_some();
        let acting = self.acting.is_some();
        let fleet = !acting || fetching;
        // A failed action's retry is due by the clock, not by a sweep.
        let wake = self.machine.next_wake().map(|at| self.io.fleet.origin + at);
        let io = &mut self.io;
        tokio::select! {
            _ = io.cancel.cancelled() => Heard::Stop,
            result = fetched(&mut self.fetching), if fetching => {
                self.fetching = None;
                Heard::Fetched(result)
            }
            result = acted(&mut self.acting), if acting => match self.acting.take() {
                Some((action, _)) => Heard::Observation(Observation::ActionDone { action, result }),
                None => Heard::Nothing,
            },
            changed = io.pages.changed(), if fleet => match changed {
                Ok(()) => match io.pages.borrow_and_update().as_ref()
                    .and_then(|page| from_page(&mut self.machine, &mut self.observed, page))
                {
                    Some(row) => Heard::Observation(Observation::Status(Some(row))),
                    None => Heard::Nothing,
                },
                Err(_) => Heard::Stop,
            },
            changed = io.sweeps.changed(), if fleet => match changed {
                Ok(()) => match io.sweeps.borrow_and_update().as_ref()
                    .and_then(|sweep| from_sweep(&mut self.machine, &mut self.observed, sweep, io.id))
                {
                    Some(row) => Heard::Observation(Observation::Status(row)),
                    None => Heard::Nothing,
                },
                // The fleet dropped our feed: it is shutting down.
                Err(_) => Heard::Stop,
            },
            changed = io.policy.changed(), if !acting && !fetching => match changed {
                Ok(()) => Heard::Observation(Observation::PolicyChanged(io.policy.borrow_and_update().clone())),
                Err(_) => Heard::Stop,
            },
            _ = sleep_until(wake), if fleet => Heard::Observation(Observation::Tick),
        }
    }

    /// Hands the machine `observation`, persists what the step asks, and carries out or queues
    /// the rest: beside a fetch, its events go out now and its action too when none is under
    /// way; otherwise it waits its turn in the queue.
    async fn observe(&mut self, observation: Observation) {
        let mut step = self.machine.observe(now(self.io.fleet.origin), observation);
        self.after_observe(std::mem::take(&mut step.persist)).await;
        if self.fetching.is_some() {
            for kind in step.events.drain(..) {
                self.io.emit(kind).await;
            }
            if let (None, Some(action)) = (&self.acting, step.act) {
                step.act = None;
                self.acting = Some((action, start_action(&self.io, action).await));
            }
        }
        if !step.is_empty() {
            self.queue.push_back(step);
        }
    }

    /// Hands the log queue what the observation taught the machine (a signal of the job
    /// ending moves its next fetch forward; the log's pace), then saves the step's durable
    /// state when it changed: on disk before anything of the step goes out (the contract is
    /// [`Step`]'s).
    async fn after_observe(&mut self, persist: bool) {
        let (machine, id, ctx) = (&mut self.machine, self.io.id, &self.io.fleet.ctx);
        if let Some(kind) = machine.take_signal() {
            ctx.logs.signal(id, kind);
        }
        ctx.logs.set_pace(id, machine.pace());
        if persist {
            ctx.state.save(id, machine.durable()).await;
            ctx.state.flush().await;
        }
    }

    /// A fetch's answer as the machine's lines, after saying a cut body once per episode.
    async fn after_fetch(
        &mut self,
        result: Result<LogTail, ApiError>,
    ) -> Result<Vec<String>, ApiError> {
        let cut = matches!(result, Ok(LogTail { cut: true, .. }));
        if cut && !self.cut_said {
            let kind = EventKind::Note {
                source: self.machine.source().clone(),
                message: "the log body was longer than its read cap; only the lines before \
                          the cut were read (said once until a body fits)"
                    .to_owned(),
            };
            self.io.emit(kind).await;
        }
        self.cut_said = cut || (self.cut_said && result.is_err());
        result.map(|tail| tail.lines)
    }
}

/// Starts `action`. Write-ahead: its intent is on disk before it is taken, so a restart can
/// never repeat or forget it.
async fn start_action<A: Api>(io: &MonitorIo<A>, action: ActionKind) -> Acting {
    io.fleet.ctx.state.flush().await;
    let (api, id) = (Arc::clone(&io.fleet.ctx.api), io.id);
    Box::pin(async move { act(&*api, id, action).await })
}

/// The answer to the fetch under way, if there is one; never, otherwise.
async fn fetched(fetching: &mut Option<Fetching>) -> Result<LogTail, ApiError> {
    match fetching {
        Some(fetch) => fetch.await,
        None => std::future::pending().await,
    }
}

/// The answer to the action under way, if there is one; never, otherwise.
async fn acted(acting: &mut Option<(ActionKind, Acting)>) -> Result<(), ApiError> {
    match acting {
        Some((_, acting)) => acting.await,
        None => std::future::pending().await,
    }
}

/// Our row from its page, unless the machine has seen this sweep's row already.
fn from_page(machine: &mut MonitorMachine, observed: &mut u64, page: &PageRow) -> Option<Instance> {
    if page.sweep <= *observed {
        return None;
    }
    let row = page.row.clone();
    *observed = page.sweep;
    machine.set_fleet_running(page.running);
    Some(row)
}

/// Our row of a finished sweep (`Some(None)`: absent from it), unless its page brought it
/// already; the fleet's size is news either way.
fn from_sweep(
    machine: &mut MonitorMachine,
    observed: &mut u64,
    sweep: &Sweep,
    id: u64,
) -> Option<Option<Instance>> {
    machine.set_fleet_running(sweep.running);
    if sweep.number <= *observed {
        return None;
    }
    *observed = sweep.number;
    Some(sweep.row(id))
}

async fn act<A: Api>(api: &A, id: u64, action: ActionKind) -> Result<(), ApiError> {
    match action {
        ActionKind::Stop => api.stop(id).await,
        ActionKind::Destroy => api.destroy(id).await,
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// The machine's view of time: monotonic since the fleet's origin, plus wall-clock seconds for
/// comparisons with the API's epoch timestamps.
pub fn now(origin: Instant) -> Now {
    let wall = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs_f64();
    Now {
        mono: Instant::now().saturating_duration_since(origin),
        wall,
    }
}
