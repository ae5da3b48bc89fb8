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
use crate::reload::{self, FleetFile};
use crate::report::event::{Event, EventKind, Resume};
use crate::report::writer::{Sink, Writer};
use crate::state::{self, Opened, StateHandle};
use crate::throttle::Throttle;
use crate::Fatal;
use notifier::Notifier;
use stream::{Consumers, Output, EVENT_QUEUE};

mod notifier;
mod stream;
mod throttle_report;

pub use throttle_report::report_throttle;

/// How long the session's tasks may take to end once the `shutdown` line is out: by then
/// only a monitor that outlived its grace can still be running.
const TASKS_GRACE: Duration = Duration::from_millis(200);

/// Everything a session needs, validated by the command that builds it.
pub struct Session {
    pub settings: Settings,
    /// The fleet file and its current text, when live reload applies.
    pub reload: Option<FleetFile>,
    pub state_path: Option<PathBuf>,
    /// The state file's lock, taken with [`lock_state`] before the first API call: a second
    /// watcher on the same file is refused without spending the key's budget.
    pub lock: Option<state::StateLock>,
    pub writer: Writer,
    /// Where the stream goes.
    pub sink: Sink,
    pub options: MachineOptions,
    /// How to carry on, for the end of the summary.
    pub resume: Resume,
    /// Every event is folded into these metrics (`--metrics`).
    pub metrics: Option<Metrics>,
    /// Webhooks (`[[notify]]`), when the fleet has any.
    pub notify: Option<NotifierConfig>,
    /// The live view: every event is folded into the board, served beside the state file.
    pub live: Option<LiveSession>,
    /// `watch --tui`: the board drawn full-screen instead of the stream (needs `live`).
    pub tui: bool,
    /// Every task the session starts, and those started for it before it runs (the metrics
    /// listener): all are waited for, bounded, before [`run`] returns.
    pub tasks: TaskTracker,
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
    let tasks = session.tasks;
    let mut lock = session.lock;
    if let (Some(live), Some(path), Some(lock)) = (&session.live, &session.state_path, &mut lock) {
        serve_live(live.board.clone(), path, lock, shutdown.clone(), &tasks)?;
    }
    let (events, events_rx) = mpsc::channel(EVENT_QUEUE);
    let view = session.live.as_ref().filter(|_| session.tui);
    let (output, to_output) = Output::start(
        session.writer,
        session.sink,
        view.map(|live| live.board.clone()),
        &shutdown,
        &tasks,
    );
    let (notifier, notifier_input) = session
        .notify
        .map(|config| Notifier::start(config, events.clone(), &tasks))
        .unzip();
    if let Some(metrics) = &session.metrics {
        metrics.set_effective_rate(throttle.effective_per_second());
        metrics.attach_log_queue(throttle.log_queue().clone());
    }
    let (board, sweeps) = session.live.map(|live| (live.board, live.sweeps)).unzip();
    // The metrics read the sweeps too (the last good one's time, `/healthz`).
    let sweeps = match (sweeps, &session.metrics) {
        (None, Some(_)) => Some(watch::channel(None).0),
        (sweeps, _) => sweeps,
    };
    let follow_metrics = session.metrics.clone();
    let consumers = Consumers {
        metrics: session.metrics,
        board,
        notifier: notifier_input,
    };
    let stream = tasks.spawn(stream::fan_out(events_rx, to_output, consumers));

    let state = match &session.state_path {
        Some(path) => open_state(path, &events, &tasks).await,
        None => StateHandle::disabled(),
    };

    let helpers = shutdown.child_token();
    let reporter = tasks.spawn(report_throttle(
        throttle.clone(),
        events.clone(),
        helpers.clone(),
    ));
    throttle
        .log_queue()
        .set_order(session.settings.api.log_order);
    let (settings_tx, settings_rx) = watch::channel(Arc::new(session.settings));
    if let (Some(metrics), Some(sweeps)) = (follow_metrics, &sweeps) {
        metrics.follow(sweeps.subscribe(), settings_tx.subscribe(), &tasks);
    }
    let hangups = crate::signals::Hangups::install();
    let reloader = match session.reload {
        Some(file) => reload::spawn(
            file,
            settings_tx,
            events.clone(),
            hangups,
            helpers.clone(),
            &tasks,
        ),
        None => reload::spawn_without_file(events.clone(), hangups, helpers.clone(), &tasks),
    };
    let ctx = FleetContext {
        api,
        events: events.clone(),
        state: state.clone(),
        options: session.options,
        logs: throttle.log_queue().clone(),
        sweeps,
        tasks: tasks.clone(),
    };
    // The ordered stop: the monitors and the feed (inside `supervise`), then the reporter and
    // the reloader, then the state writer, then the notifier's last moment, and only then the
    // `shutdown` event, so nothing follows it in the stream.
    let summary = fleet::supervise(ctx, settings_rx, shutdown.clone()).await;
    helpers.cancel();
    let _ = reloader.await;
    let _ = reporter.await;
    state.close();
    if let Some(notifier) = notifier {
        notifier.last_moment().await;
    }
    let kind = EventKind::Shutdown {
        summary,
        api: throttle.stats(),
        resume: session.resume,
    };
    let _ = events.send(Event::now(kind)).await;
    drop(events);
    let _ = stream.await;
    output.finish().await;
    tasks.close();
    if tokio::time::timeout(TASKS_GRACE, tasks.wait())
        .await
        .is_err()
    {
        tracing::warn!("some of the session's tasks did not end in time; leaving them");
    }
    Ok(())
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
