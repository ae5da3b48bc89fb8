//! The thin async shell around one [`MonitorMachine`]: it waits for what the machine asked for
//! (a status row, a tick, a policy change), performs the machine's requests against the API,
//! and feeds the answers back. No product rule lives here.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::api::Instance;
use crate::api::{Api, LogTail};
use crate::config::Policy;
use crate::feed::{Sweep, SweepSlot};
use crate::monitor::machine::{MonitorMachine, Now, Observation, Output};
use crate::report::event::{ActionKind, Event, EventKind};
use crate::schedule::LogQueue;
use crate::state::StateHandle;

/// Outputs an idle monitor keeps room for.
const IDLE_QUEUE: usize = 8;

/// Everything one monitor task needs besides its machine.
pub struct MonitorIo<A> {
    pub api: Arc<A>,
    pub id: u64,
    pub events: mpsc::Sender<Event>,
    /// The fleet-wide status sweeps; the monitor reads its own row.
    pub sweeps: watch::Receiver<SweepSlot>,
    pub policy: watch::Receiver<Policy>,
    pub state: StateHandle,
    pub cancel: CancellationToken,
    /// The monotonic origin every `Now::mono` is measured from (shared by the fleet).
    pub origin: Instant,
    /// The throttle's log queue: told of the machine's signals and pace.
    pub logs: LogQueue,
}

/// Runs until cancelled, then hands the machine back for the shutdown summary.
#[allow(clippy::manual_async_fn)] // on purpose, see the comment in the body
pub fn run<A: Api>(
    mut machine: MonitorMachine,
    mut io: MonitorIo<A>,
) -> impl std::future::Future<Output = MonitorMachine> {
    // An async block, not an `async fn`: the future then holds the machine once, where an
    // `async fn` keeps its arguments and their moved-into locals side by side — a kilobyte per
    // monitor, a megabyte for a large fleet.
    async move {
        let mut pending: VecDeque<Output> = VecDeque::new();
        // A cut log body is said once per episode, not at every poll.
        let mut cut_said = false;
        // A row that arrived before this task started is still news to the machine.
        let first = io
            .sweeps
            .borrow_and_update()
            .as_ref()
            .map(|sweep| seen(&mut machine, sweep, io.id));
        if let Some(row) = first {
            let outputs = machine.observe(now(io.origin), Observation::Status(row));
            pending.extend(write_ahead(&mut machine, &io, outputs).await);
        }
        loop {
            while let Some(output) = pending.pop_front() {
                let answer = match output {
                    Output::Event(kind) => {
                        // The writer only goes away at shutdown; nothing to do about it then.
                        let _ = io.events.send(Event::now(kind)).await;
                        continue;
                    }
                    // Already on disk: `write_ahead` saved the batch before its first event.
                    Output::Checkpoint => continue,
                    Output::FetchLogs { tail } => {
                        // Boxed, like the action below: an HTTP call's future is kilobytes, and
                        // inline it would make every idle monitor of a large fleet that big.
                        let mut fetch = Box::pin(io.api.logs(io.id, tail));
                        // The fetch may wait its turn behind the whole fleet's, about a second
                        // per running instance. Sweeps meanwhile are still news: their events
                        // (a stop, say) go out now; what else they ask for waits for the fetch,
                        // which doubles as the last look at the log of an instance that left.
                        let result = loop {
                            let row = tokio::select! {
                                result = &mut fetch => break result,
                                _ = io.cancel.cancelled() => return machine,
                                changed = io.sweeps.changed() => match changed {
                                    Ok(()) => io
                                        .sweeps
                                        .borrow_and_update()
                                        .as_ref()
                                        .map(|sweep| seen(&mut machine, sweep, io.id)),
                                    Err(_) => return machine,
                                },
                            };
                            let Some(row) = row else { continue };
                            let outputs = machine.observe(now(io.origin), Observation::Status(row));
                            for output in write_ahead(&mut machine, &io, outputs).await {
                                match output {
                                    Output::Event(kind) => {
                                        let _ = io.events.send(Event::now(kind)).await;
                                    }
                                    Output::Checkpoint => {}
                                    later => pending.push_back(later),
                                }
                            }
                        };
                        let cut = matches!(result, Ok(LogTail { cut: true, .. }));
                        if cut && !cut_said {
                            let kind = EventKind::Note {
                                source: machine.source().clone(),
                                message: "the log body was longer than its read cap; only the \
                                          lines before the cut were read (said once until a \
                                          body fits)"
                                    .to_owned(),
                            };
                            let _ = io.events.send(Event::now(kind)).await;
                        }
                        cut_said = cut || (cut_said && result.is_err());
                        Observation::Logs(result.map(|tail| tail.lines))
                    }
                    Output::Act(action) => {
                        // Write-ahead: the intent of an action is on disk before the action is
                        // taken, so a restart can never repeat or forget it.
                        io.state.flush().await;
                        let result = tokio::select! {
                            result = Box::pin(act(&*io.api, io.id, action)) => result,
                            _ = io.cancel.cancelled() => return machine,
                        };
                        Observation::ActionDone { action, result }
                    }
                };
                let outputs = machine.observe(now(io.origin), answer);
                pending.extend(write_ahead(&mut machine, &io, outputs).await);
            }
            // A snapshot's batch can be hundreds of lines; an idle monitor must not keep room
            // for them (a thousand monitors kept tens of MB that way).
            pending.shrink_to(IDLE_QUEUE);

            let wake = machine.next_wake().map(|at| io.origin + at);
            let observation = tokio::select! {
                _ = io.cancel.cancelled() => return machine,
                changed = io.sweeps.changed() => match changed {
                    Ok(()) => match io.sweeps.borrow_and_update().as_ref() {
                        Some(sweep) => Observation::Status(seen(&mut machine, sweep, io.id)),
                        None => continue,
                    },
                    // The fleet dropped our feed: it is shutting down.
                    Err(_) => return machine,
                },
                changed = io.policy.changed() => match changed {
                    Ok(()) => Observation::PolicyChanged(io.policy.borrow_and_update().clone()),
                    Err(_) => return machine,
                },
                _ = sleep_until(wake) => Observation::Tick,
            };
            let outputs = machine.observe(now(io.origin), observation);
            pending.extend(write_ahead(&mut machine, &io, outputs).await);
        }
    }
}

/// Our row of a sweep, after telling the machine how busy the fleet is.
fn seen(machine: &mut MonitorMachine, sweep: &Sweep, id: u64) -> Option<Instance> {
    machine.set_fleet_running(sweep.running);
    sweep.row(id)
}

/// Puts a batch's checkpoint on disk before any of its events is printed: after a `kill -9`
/// the restarted watcher then knows every line the stream showed, so none is shown twice.
/// (The window left is the other way round — written but not yet printed — and lasts only as
/// long as the hand-over to the writer.)
///
/// It also hands the log queue what the observation taught the machine: a signal of the job
/// ending (its next fetch goes early) and the log's pace.
async fn write_ahead<A: Api>(
    machine: &mut MonitorMachine,
    io: &MonitorIo<A>,
    outputs: Vec<Output>,
) -> Vec<Output> {
    if let Some(kind) = machine.take_signal() {
        io.logs.signal(io.id, kind);
    }
    io.logs.set_pace(io.id, machine.pace());
    if outputs.contains(&Output::Checkpoint) {
        io.state.save(io.id, machine.durable()).await;
        io.state.flush().await;
    }
    outputs
}

async fn act<A: Api>(api: &A, id: u64, action: ActionKind) -> Result<(), crate::api::ApiError> {
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
