//! One watch session, shared by `watch` and `demo`: the writer task, the state store, the fleet
//! supervisor, live reload, the notifier and the throttle reporter, all on one `TaskTracker`,
//! started together and stopped in order when the shutdown token fires: monitors and feed, then
//! reporter and reloader, then the notifier's last moment, then the `shutdown` line (the
//! stream's last), then every task is waited for, bounded.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::api::Api;
use crate::config::Settings;
use crate::feed::SweepSlot;
use crate::fleet::{self, FleetContext};
use crate::live::{self, Board};
use crate::metrics::Metrics;
use crate::monitor::machine::MachineOptions;
use crate::notify::NotifierConfig;
use crate::reload::{FleetFile, Prepare};
use crate::report::event::{Event, EventKind, Resume};
use crate::report::writer::{Sink, Writer};
use crate::service;
use crate::state::{self, Opened, StateHandle};
use crate::throttle::Throttle;
use crate::Fatal;
use helpers::Helpers;
use stream::{Ends, Stream};

mod helpers;
mod notifier;
mod stream;
mod throttle_report;

pub use throttle_report::report_throttle;

/// How long the session's tasks may take to end once the `shutdown` line is out: by then
/// only a monitor that outlived its grace can still be running.
const TASKS_GRACE: Duration = Duration::from_millis(200);

/// A validated watch: what to watch, how to show it, where to keep state. `watch` builds it
/// from its flags and `demo` from the fleet file it writes, as typed values: no command line
/// is made up or parsed again.
pub struct Plan {
    pub settings: Settings,
    /// The fleet file and the text it was read with, when there is one: live reload follows it.
    pub file: Option<(PathBuf, String)>,
    pub state_path: Option<PathBuf>,
    pub writer: Writer,
    pub options: MachineOptions,
    /// How to carry on, for the end of the summary.
    pub resume: Resume,
    /// `watch --tui`: the board drawn full-screen instead of the stream (needs `live`).
    pub tui: bool,
}

/// A plan and what was started for it before the first API call.
pub struct Session {
    pub plan: Plan,
    /// How a new text of `plan.file` becomes the fleet to run.
    pub prepare: Option<Prepare>,
    /// The state file's lock, taken with [`lock_state`] before the first API call: a second
    /// watcher on the same file is refused without spending the key's budget.
    pub lock: Option<state::StateLock>,
    /// Where the stream goes.
    pub sink: Sink,
    /// Every event is folded into these metrics (`--metrics`).
    pub metrics: Option<Metrics>,
    /// Webhooks (`[[notify]]`), when the fleet has any.
    pub notify: Option<NotifierConfig>,
    /// The live view: every event is folded into the board, served beside the state file.
    pub live: Option<LiveSession>,
    /// Every task the session starts, and those started for it before it runs (the metrics
    /// listener): all are waited for, bounded, before [`run`] returns.
    pub tasks: TaskTracker,
    /// The service manager (systemd `Type=notify`), when there is one.
    pub service: service::Handle,
}

/// The board and the sweep channel it reads, made before the session so the `--metrics`
/// listener can serve the board too.
pub struct LiveSession {
    pub board: Board,
    pub sweeps: watch::Sender<SweepSlot>,
}

/// The state file's lock for [`Session::lock`], when the session keeps state.
pub fn lock_state(state_path: Option<&std::path::Path>) -> Result<Option<state::StateLock>, Fatal> {
    state_path
        .map(|path| state::acquire_lock(path).map_err(Fatal::input))
        .transpose()
}

/// Runs until `shutdown` fires; exit status 0 after an orderly stop.
pub async fn run<A: Api>(
    api: Arc<A>,
    throttle: Throttle,
    session: Session,
    shutdown: CancellationToken,
) -> Result<(), Fatal> {
    let Session {
        plan,
        tasks,
        service,
        ..
    } = session;
    let watchdog = service.spawn(shutdown.clone(), &tasks);
    let mut lock = session.lock;
    if let (Some(live), Some(path), Some(lock)) = (&session.live, &plan.state_path, &mut lock) {
        serve_live(live.board.clone(), path, lock, shutdown.clone(), &tasks)?;
    }
    let view = session.live.as_ref().filter(|_| plan.tui);
    let view = view.map(|live| live.board.clone());
    let (board, sweeps) = session.live.map(|live| (live.board, live.sweeps)).unzip();
    let ends = Ends {
        writer: plan.writer,
        sink: session.sink,
        view,
        notify: session.notify,
        metrics: session.metrics.clone(),
        board,
    };
    let (stream, events) = Stream::start(ends, &shutdown, &tasks);
    let state = match &plan.state_path {
        Some(path) => open_state(path, &events, &tasks).await,
        None => StateHandle::disabled(),
    };
    throttle.log_queue().set_order(plan.settings.api.log_order);
    let (settings_tx, settings_rx) = watch::channel(Arc::new(plan.settings));
    let sweeps = follow_metrics(session.metrics, &throttle, sweeps, &settings_tx, &tasks);
    let file = plan.file.zip(session.prepare);
    let file = file.map(|((path, text), prepare)| FleetFile {
        path,
        text,
        prepare,
    });
    let helpers = Helpers::start(&throttle, file, settings_tx, &events, &service, &tasks);
    let ctx = FleetContext {
        api,
        events: events.clone(),
        state: state.clone(),
        options: plan.options,
        logs: throttle.log_queue().clone(),
        tasks: tasks.clone(),
        service,
    };
    // The ordered stop: the monitors and the feed (inside `supervise`), then the reporter and
    // the reloader, then the state writer, then the stream, whose last line is `shutdown`.
    let summary = fleet::supervise(ctx, sweeps, settings_rx, shutdown.clone()).await;
    helpers.stop().await;
    state.close();
    let last = EventKind::Shutdown {
        summary,
        api: throttle.stats(),
        resume: plan.resume,
    };
    stream.end(events, last).await;
    // STOPPING=1 went out when the stop began; this only makes sure it was sent.
    let _ = watchdog.await;
    tasks.close();
    if tokio::time::timeout(TASKS_GRACE, tasks.wait())
        .await
        .is_err()
    {
        tracing::warn!("some of the session's tasks did not end in time; leaving them");
    }
    Ok(())
}

/// Points `--metrics` at this session: the throttle's rate and log queue, and the sweeps (the
/// last good one's time, `/healthz`) with the window of every reloaded fleet. The sweeps'
/// sender, made here when only the metrics read them.
fn follow_metrics(
    metrics: Option<Metrics>,
    throttle: &Throttle,
    sweeps: Option<watch::Sender<SweepSlot>>,
    settings: &watch::Sender<Arc<Settings>>,
    tasks: &TaskTracker,
) -> Option<watch::Sender<SweepSlot>> {
    let Some(metrics) = metrics else {
        return sweeps;
    };
    metrics.set_effective_rate(throttle.effective_per_second());
    metrics.attach_log_queue(throttle.log_queue().clone());
    let sweeps = sweeps.unwrap_or_else(|| watch::channel(None).0);
    metrics.follow(sweeps.subscribe(), settings.subscribe(), tasks);
    Some(sweeps)
}

/// Opens the state file, saying on the stream whether it resumes or had to start afresh.
async fn open_state(
    path: &std::path::Path,
    events: &mpsc::Sender<Event>,
    tasks: &TaskTracker,
) -> StateHandle {
    let (handle, opened) = StateHandle::open(path, events.clone(), tasks);
    let message = match opened {
        Opened::Fresh => None,
        Opened::Restored { instances } => Some(format!(
            "resuming from {} ({})",
            path.display(),
            crate::report::words::plural(instances as u64, "instance")
        )),
        Opened::Corrupt { reason, moved_to } => Some(format!(
            "state file {} could not be trusted ({reason}); moved it to {} and started fresh",
            path.display(),
            moved_to.display()
        )),
    };
    if let Some(message) = message {
        let _ = events.send(Event::now(EventKind::Notice { message })).await;
    }
    handle
}

/// Opens the live view's socket beside the state file and records it in the lock file. A
/// socket that cannot be opened is bad input at start (exit 2), like a taken metrics port.
fn serve_live(
    board: Board,
    state_path: &std::path::Path,
    lock: &mut state::StateLock,
    shutdown: CancellationToken,
    tasks: &TaskTracker,
) -> Result<(), Fatal> {
    let path = live::socket_path(state_path);
    let listener = live::serve::bind(&path).map_err(|err| {
        Fatal::input(format!(
            "cannot open the live view socket {}: {err}\n  help: remove what is at that path, \
             or pass a different --state",
            path.display()
        ))
    })?;
    // Absolute: readers start from their own working directory.
    let recorded = std::path::absolute(&path).unwrap_or_else(|_| path.clone());
    if let Err(err) = lock.record_socket(&recorded) {
        tracing::warn!("cannot record the live view socket in the lock file: {err}");
    }
    let router = live::router(board, shutdown.clone());
    live::serve::spawn(listener, path, router, shutdown, tasks);
    Ok(())
}
