//! The thin async shell around one [`MonitorMachine`]: it waits for what the machine asked for
//! (a status row, a tick, a policy change), performs the machine's requests against the API,
//! and feeds the answers back. No product rule lives here.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::api::Instance;
use crate::api::{Api, ApiError, LogTail};
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
                        let Some(result) =
                            fetch_logs(&mut machine, &mut io, &mut pending, tail).await
                        else {
                            return machine;
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
                        let mut acting = start_action(&io, action).await;
                        let result = tokio::select! {
                            result = &mut acting => result,
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

/// An action under way; boxed, like a fetch: an HTTP call's future is kilobytes, and inline it
/// would make every idle monitor of a large fleet that big.
type Acting = Pin<Box<dyn Future<Output = Result<(), ApiError>> + Send>>;

/// Starts `action`. Write-ahead: its intent is on disk before it is taken, so a restart can
/// never repeat or forget it.
async fn start_action<A: Api>(io: &MonitorIo<A>, action: ActionKind) -> Acting {
    io.state.flush().await;
    let (api, id) = (Arc::clone(&io.api), io.id);
    Box::pin(async move { act(&*api, id, action).await })
}

/// The answer to the action under way, if there is one; never, otherwise.
async fn acted(acting: &mut Option<(ActionKind, Acting)>) -> Result<(), ApiError> {
    match acting {
        Some((_, acting)) => acting.await,
        None => std::future::pending().await,
    }
}

/// Fetches the log while still hearing the sweeps: the fetch may wait its turn behind the
/// whole fleet's, about a second per running instance, or out a storm on request_logs. Their
/// events (a stop, say) go out now, and an action they ask for (a guard's stop) goes out
/// beside the fetch, not behind it: it waits only for its own endpoint (issue 11). What else
/// they ask for waits for the fetch, which doubles as the last look at the log of an instance
/// that left. `None`: cancelled, or the fleet is shutting down.
async fn fetch_logs<A: Api>(
    machine: &mut MonitorMachine,
    io: &mut MonitorIo<A>,
    pending: &mut VecDeque<Output>,
    tail: u32,
) -> Option<Result<LogTail, ApiError>> {
    let api = Arc::clone(&io.api);
    let mut fetch = Box::pin(api.logs(io.id, tail));
    let mut acting: Option<(ActionKind, Acting)> = None;
    let result = loop {
        // A failed action's retry is due by the clock, not by a sweep.
        let wake = machine.next_wake().map(|at| io.origin + at);
        let observation = tokio::select! {
            result = &mut fetch => break result,
            _ = io.cancel.cancelled() => return None,
            _ = sleep_until(wake) => Observation::Tick,
            result = acted(&mut acting) => {
                let Some((action, _)) = acting.take() else { continue };
                Observation::ActionDone { action, result }
            }
            changed = io.sweeps.changed() => {
                changed.ok()?;
                let row = io.sweeps.borrow_and_update().as_ref().map(|s| seen(machine, s, io.id));
                let Some(row) = row else { continue };
                Observation::Status(row)
            }
        };
        let outputs = machine.observe(now(io.origin), observation);
        for output in write_ahead(machine, io, outputs).await {
            match output {
                Output::Event(kind) => {
                    let _ = io.events.send(Event::now(kind)).await;
                }
                Output::Checkpoint => {}
                Output::Act(action) if acting.is_none() => {
                    acting = Some((action, start_action(io, action).await));
                }
                later => pending.push_back(later),
            }
        }
    };
    // An action that went out beside the fetch is seen through before the fetch's answer.
    if let Some((action, acting)) = acting {
        let result = tokio::select! {
            result = acting => result,
            _ = io.cancel.cancelled() => return None,
        };
        let outputs = machine.observe(now(io.origin), Observation::ActionDone { action, result });
        pending.extend(write_ahead(machine, io, outputs).await);
    }
    Some(result)
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
