//! One watch session, shared by `watch` and `demo`: the writer task, the state store, the fleet
//! supervisor, live reload and the throttle reporter, started together and stopped in order
//! (monitors, then the summary, then the writer drains) when the shutdown token fires.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::api::Api;
use crate::config::Settings;
use crate::feed::SweepSlot;
use crate::fleet::{self, FleetContext};
use crate::live::{self, Board};
use crate::metrics::Metrics;
use crate::monitor::machine::MachineOptions;
use crate::notify::{self, NotifierConfig};
use crate::reload::{self, Prepare};
use crate::report::event::{Event, EventKind};
use crate::report::writer::{self, Writer};
use crate::state::{self, Opened, StateHandle};
use crate::throttle::{Throttle, ThrottleStats};
use crate::top::Feed;
use crate::Fatal;

/// Room for bursts of log lines without making monitors wait on a slow terminal.
const EVENT_QUEUE: usize = 4096;

/// Everything a session needs, validated by the command that builds it.
pub struct Session {
    pub settings: Settings,
    /// The fleet file and its current text, when live reload applies.
    pub reload: Option<(PathBuf, String, Prepare)>,
    pub state_path: Option<PathBuf>,
    /// The state file's lock, taken with [`lock_state`] before the first API call: a second
    /// watcher on the same file is refused without spending the key's budget.
    pub lock: Option<state::StateLock>,
    pub writer: Writer,
    pub options: MachineOptions,
    /// The text after the summary: how to resume.
    pub resume_hint: String,
    /// Follow it with the `vastfleet destroy` line for the instances still billing.
    pub offer_destroy: bool,
    /// Every event is folded into these metrics (`--metrics`).
    pub metrics: Option<Metrics>,
    /// Webhooks (`[[notify]]`), when the fleet has any.
    pub notify: Option<NotifierConfig>,
    /// The live view: every event is folded into the board, served beside the state file.
    pub live: Option<LiveSession>,
    /// `watch --tui`: the board drawn full-screen instead of the stream (needs `live`).
    pub tui: bool,
}

/// The board and the sweep channel it reads, made before the session so the `--metrics`
/// listener can serve the board too.
pub struct LiveSession {
    pub board: Board,
    pub sweeps: watch::Sender<SweepSlot>,
}

/// How long queued notifications may take to go out after Ctrl+C (the whole stop must stay
/// under a second).
const NOTIFY_DRAIN: Duration = Duration::from_millis(400);

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
    let mut lock = session.lock;
    let live_socket = match (&session.live, &session.state_path, &mut lock) {
        (Some(live), Some(path), Some(lock)) => Some(serve_live(
            live.board.clone(),
            path,
            lock,
            shutdown.clone(),
        )?),
        _ => None,
    };
    let (events, events_rx) = mpsc::channel(EVENT_QUEUE);
    let (to_writer, writer_rx) = mpsc::channel(EVENT_QUEUE);
    let view = match (&session.live, session.tui) {
        (Some(live), true) => Some(spawn_view(live.board.clone(), shutdown.clone())),
        _ => None,
    };
    let output = match view {
        Some(_) => tokio::spawn(keep_summary(session.writer, writer_rx)),
        None => tokio::spawn(async move {
            let _ = writer::spawn_stdout(session.writer, writer_rx).await;
            None
        }),
    };
    let notify_cancel = CancellationToken::new();
    let release_notify = CancellationToken::new();
    let (to_notifier, notifier) = match session.notify {
        Some(config) => {
            let (tx, rx) = mpsc::channel(EVENT_QUEUE);
            let handle = notify::spawn(config, rx, events.clone(), notify_cancel.clone());
            (Some(tx), Some(handle))
        }
        None => (None, None),
    };
    if let Some(metrics) = &session.metrics {
        metrics.set_effective_rate(throttle.effective_per_second());
        metrics.attach_log_queue(throttle.log_queue().clone());
    }
    let (board, sweeps) = match session.live {
        Some(live) => (Some(live.board), Some(live.sweeps)),
        None => (None, None),
    };
    // The metrics read the sweeps too (the last good one's time, `/healthz`).
    let sweeps = match (sweeps, &session.metrics) {
        (None, Some(_)) => Some(watch::channel(None).0),
        (sweeps, _) => sweeps,
    };
    let follow_metrics = session.metrics.clone();
    let fan_out = tokio::spawn(fan_out(
        events_rx,
        to_writer,
        session.metrics,
        board,
        to_notifier,
        release_notify.clone(),
    ));

    let state = match &session.state_path {
        Some(path) => {
            let (handle, opened) = StateHandle::open(path, events.clone());
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
        None => StateHandle::disabled(),
    };

    let inner = shutdown.child_token();
    let throttle_reporter = tokio::spawn(report_throttle(
        throttle.clone(),
        events.clone(),
        inner.clone(),
    ));
    throttle
        .log_queue()
        .set_order(session.settings.api.log_order);
    let (settings_tx, settings_rx) = watch::channel(Arc::new(session.settings));
    if let (Some(metrics), Some(sweeps)) = (follow_metrics, &sweeps) {
        metrics.follow(sweeps.subscribe(), settings_tx.subscribe());
    }
    let hangups = crate::signals::Hangups::install();
    let reloader = match session.reload {
        Some((path, text, prepare)) => reload::spawn(
            path,
            &text,
            prepare,
            settings_tx,
            events.clone(),
            hangups,
            inner.clone(),
        ),
        None => reload::spawn_without_file(events.clone(), hangups, inner.clone()),
    };
    let ctx = FleetContext {
        api,
        events: events.clone(),
        state,
        options: session.options,
        logs: throttle.log_queue().clone(),
        sweeps,
    };
    let summary = fleet::supervise(ctx, settings_rx, shutdown.clone()).await;

    inner.cancel();
    let _ = reloader.await;
    let _ = throttle_reporter.await;
    let api_line = api_summary(&throttle.stats());
    let mut resume = api_line + &session.resume_hint;
    let billing: Vec<String> = summary
        .iter()
        .filter(|s| s.status != Some(crate::status::Status::Gone))
        .map(|s| s.source.id.to_string())
        .collect();
    if session.offer_destroy && !billing.is_empty() {
        resume.push_str(&format!(
            "stop paying:      vastfleet destroy {}\n",
            billing.join(" ")
        ));
    }
    let kind = EventKind::Shutdown { summary, resume };
    let _ = events.send(Event::now(kind)).await;
    drop(events);
    // Queued notifications get a moment to go out; the notifier's own reports still print.
    release_notify.cancel();
    if let Some(mut notifier) = notifier {
        if tokio::time::timeout(NOTIFY_DRAIN, &mut notifier)
            .await
            .is_err()
        {
            notify_cancel.cancel();
            let _ = notifier.await;
        }
    }
    let _ = fan_out.await;
    let summary = output.await.ok().flatten();
    if let Some(view) = view {
        // The terminal is the user's again before the summary is printed on it.
        if let Ok(Err(err)) = view.await {
            eprintln!("vastfleet: the full-screen view failed: {err}");
        }
        if let Some(text) = summary {
            let _ = crate::outln!("{text}");
        }
    }
    if let Some(server) = live_socket {
        let _ = server.await;
    }
    Ok(())
}

/// `watch --tui`: the view of `top` on this watcher's own board. It ends on `q` / Ctrl+C (which
/// cancel `shutdown`, the orderly stop a signal asks for) or when `shutdown` fires; a view that
/// fails or panics (its panic hook has restored the terminal) stops the watcher the same way,
/// as a closed stdout does the stream.
fn spawn_view(board: Board, shutdown: CancellationToken) -> JoinHandle<std::io::Result<()>> {
    tokio::spawn(async move {
        let first = board.snapshot(std::time::SystemTime::now());
        let app = crate::top::app::App {
            inside_watcher: true,
            ..Default::default()
        };
        let view = crate::top::run(Feed::Board(board), app, first, shutdown.clone());
        let result = tokio::spawn(view).await;
        shutdown.cancel();
        result.unwrap_or_else(|panic| Err(std::io::Error::other(panic)))
    })
}

/// The writer of `watch --tui`: the stream is not printed under the view, but the summary of
/// the orderly stop is kept for the terminal once the view is gone.
async fn keep_summary(mut writer: Writer, mut rx: mpsc::Receiver<Event>) -> Option<String> {
    let mut summary = None;
    while let Some(event) = rx.recv().await {
        if matches!(event.kind, EventKind::Shutdown { .. }) {
            summary = writer.render(&event);
        }
    }
    summary
}

/// Opens the live view's socket beside the state file and records it in the lock file. A
/// socket that cannot be opened is bad input at start (exit 2), like a taken metrics port.
fn serve_live(
    board: Board,
    state_path: &std::path::Path,
    lock: &mut state::StateLock,
    shutdown: CancellationToken,
) -> Result<tokio::task::JoinHandle<()>, Fatal> {
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
    Ok(live::serve::spawn(listener, path, router, shutdown))
}

/// Hands every event to the writer, the metrics and the notifier. The writer is the only one
/// allowed to slow the stream down; the notifier gets what its queue takes.
async fn fan_out(
    mut events: mpsc::Receiver<Event>,
    writer: mpsc::Sender<Event>,
    metrics: Option<Metrics>,
    board: Option<Board>,
    mut notifier: Option<mpsc::Sender<Event>>,
    release_notifier: CancellationToken,
) {
    loop {
        let event = tokio::select! {
            event = events.recv() => match event {
                Some(event) => event,
                None => return,
            },
            _ = release_notifier.cancelled(), if notifier.is_some() => {
                notifier = None;
                continue;
            }
        };
        if let Some(metrics) = &metrics {
            metrics.observe(&event);
        }
        if let Some(board) = &board {
            board.observe(&event);
        }
        if let Some(notifier) = &notifier {
            if !matches!(event.kind, EventKind::Log { .. }) {
                let _ = notifier.try_send(event.clone());
            }
        }
        if writer.send(event).await.is_err() {
            return;
        }
    }
}

/// The summary's API line: calls, 429s per endpoint, the overall rate at exit.
fn api_summary(stats: &ThrottleStats) -> String {
    let rate = if stats.per_second.is_finite() {
        format!("{:.2} calls/s", stats.per_second)
    } else {
        "unlimited".to_owned()
    };
    let by_endpoint: Vec<String> = stats
        .rate_limited
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(endpoint, n)| format!("{} {n}", endpoint.as_str()))
        .collect();
    let limited = match by_endpoint.is_empty() {
        true => String::new(),
        false => format!(" ({})", by_endpoint.join(", ")),
    };
    format!(
        "API: {} calls, {} answered 429{limited}, effective rate at exit {rate}\n",
        stats.calls.values().sum::<u64>(),
        stats.total_rate_limited(),
    )
}

/// Turns the throttle's changes into `throttle` events (see [`crate::throttle::changes`]).
/// Public so paused-clock tests can run it beside [`fleet::supervise`] without a stdout writer.
pub async fn report_throttle(
    throttle: Throttle,
    events: mpsc::Sender<Event>,
    cancel: CancellationToken,
) {
    let mut changes = throttle.subscribe();
    let mut last = changes.borrow_and_update().clone();
    loop {
        // Episodes end and paces recover with time alone: look then too, so the line that
        // says an endpoint is back comes when it is back, not at its next call.
        let due = throttle.next_change();
        tokio::select! {
            _ = cancel.cancelled() => return,
            changed = changes.changed() => if changed.is_err() { return },
            _ = sleep_until_due(due) => {
                let _ = throttle.effective_per_second();
                let _ = changes.has_changed();
            }
        }
        let status = changes.borrow_and_update().clone();
        for kind in crate::throttle::changes(&last, &status) {
            let _ = events.send(Event::now(kind)).await;
        }
        last = status;
    }
}

/// Sleeps until `due`, or for ever without one.
async fn sleep_until_due(due: Option<tokio::time::Instant>) {
    match due {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
