//! A session's event path: one channel in, fanned out to the metrics, the live board, the
//! notifier and the one output — the stream writer, or under `--tui` the full-screen view,
//! with the shutdown summary kept for the terminal once the view is gone. It ends with the
//! `shutdown` event, after the notifier's last moment, so that event is the last line.

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::notifier::{self, Notifier};
use crate::live::Board;
use crate::metrics::Metrics;
use crate::notify::NotifierConfig;
use crate::report::event::{Event, EventKind};
use crate::report::writer::{self, Sink, Writer};
use crate::top::Feed;

/// Room for bursts of log lines without making monitors wait on a slow terminal.
const EVENT_QUEUE: usize = 4096;

/// Where a session's events go.
pub struct Ends {
    pub writer: Writer,
    pub sink: Sink,
    /// `watch --tui`: the board the view draws, instead of the stream.
    pub view: Option<Board>,
    pub notify: Option<NotifierConfig>,
    pub metrics: Option<Metrics>,
    /// The live board every event is folded into.
    pub board: Option<Board>,
}

/// The running event path.
pub struct Stream {
    fan_out: JoinHandle<()>,
    output: Output,
    notifier: Option<Notifier>,
}

impl Stream {
    /// Starts the output, the notifier and the fan-out on `tasks`; the sender is the stream's
    /// one way in.
    pub fn start(
        ends: Ends,
        shutdown: &CancellationToken,
        tasks: &TaskTracker,
    ) -> (Stream, mpsc::Sender<Event>) {
        let (events, events_rx) = mpsc::channel(EVENT_QUEUE);
        let (output, to_output) = Output::start(ends.writer, ends.sink, ends.view, shutdown, tasks);
        let (notifier, input) = ends
            .notify
            .map(|config| Notifier::start(config, events.clone(), tasks))
            .unzip();
        let consumers = Consumers {
            metrics: ends.metrics,
            board: ends.board,
            notifier: input,
        };
        let fan_out = tasks.spawn(fan_out(events_rx, to_output, consumers));
        let stream = Stream {
            fan_out,
            output,
            notifier,
        };
        (stream, events)
    }

    /// Ends the stream with `last` once everything else has stopped: the notifier gets its last
    /// moment first, so what it says comes before `last`; then every line is out.
    pub async fn end(self, events: mpsc::Sender<Event>, last: EventKind) {
        if let Some(notifier) = self.notifier {
            notifier.last_moment().await;
        }
        let _ = events.send(Event::now(last)).await;
        drop(events);
        let _ = self.fan_out.await;
        self.output.finish().await;
    }
}

/// Who sees every event beside the output.
struct Consumers {
    metrics: Option<Metrics>,
    board: Option<Board>,
    notifier: Option<notifier::Input>,
}

/// Hands every event to the metrics, the board, the notifier and the output. The output is the
/// only one allowed to slow the stream down; the notifier gets what its queue takes. Ends after
/// the `shutdown` event: it is the stream's last line, whatever a task that outlived its stop
/// may still send.
async fn fan_out(
    mut events: mpsc::Receiver<Event>,
    output: mpsc::Sender<Event>,
    consumers: Consumers,
) {
    let Consumers {
        metrics,
        board,
        mut notifier,
    } = consumers;
    let release = notifier
        .as_ref()
        .map(|input| input.release.clone())
        .unwrap_or_default();
    loop {
        let event = tokio::select! {
            // Events first: what was sent before the release still reaches the notifier.
            biased;
            event = events.recv() => match event {
                Some(event) => event,
                None => return,
            },
            _ = release.cancelled(), if notifier.is_some() => {
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
                let _ = notifier.events.try_send(event.clone());
            }
        }
        let last = matches!(event.kind, EventKind::Shutdown { .. });
        if output.send(event).await.is_err() || last {
            return;
        }
    }
}

/// The end of the stream: the writer, and the full-screen view when there is one.
struct Output {
    writer: JoinHandle<Option<String>>,
    view: Option<JoinHandle<std::io::Result<()>>>,
}

impl Output {
    /// Starts the writer into `sink` on `tasks`, or with a `view` board (`watch --tui`) the
    /// view instead, keeping the summary; the sender is the fan-out's end of it.
    fn start(
        writer: Writer,
        sink: Sink,
        view: Option<Board>,
        shutdown: &CancellationToken,
        tasks: &TaskTracker,
    ) -> (Output, mpsc::Sender<Event>) {
        let (to_writer, writer_rx) = mpsc::channel(EVENT_QUEUE);
        let output = match view {
            Some(board) => Output {
                writer: tasks.spawn(keep_summary(writer, writer_rx)),
                view: Some(spawn_view(board, shutdown.clone(), tasks)),
            },
            None => Output {
                writer: tasks.spawn(async move {
                    writer::write(writer, writer_rx, sink).await;
                    None
                }),
                view: None,
            },
        };
        (output, to_writer)
    }

    /// Waits for the last line to be out; under `--tui`, for the view to give the terminal back
    /// before the kept summary is printed on it.
    async fn finish(self) {
        let summary = self.writer.await.ok().flatten();
        let Some(view) = self.view else { return };
        if let Ok(Err(err)) = view.await {
            eprintln!("vastfleet: the full-screen view failed: {err}");
        }
        if let Some(text) = summary {
            let _ = crate::outln!("{text}");
        }
    }
}

/// `watch --tui`: the view of `top` on this watcher's own board. It ends on `q` / Ctrl+C (which
/// cancel `shutdown`, the orderly stop a signal asks for) or when `shutdown` fires; a view that
/// fails or panics (its panic hook has restored the terminal) stops the watcher the same way,
/// as a closed stdout does the stream.
fn spawn_view(
    board: Board,
    shutdown: CancellationToken,
    tasks: &TaskTracker,
) -> JoinHandle<std::io::Result<()>> {
    let inner = tasks.clone();
    tasks.spawn(async move {
        let first = board.snapshot(std::time::SystemTime::now());
        let app = crate::top::app::App {
            inside_watcher: true,
            ..Default::default()
        };
        let view = crate::top::run(Feed::Board(board), app, first, shutdown.clone());
        // A task of its own, so a panic in the view is caught here.
        let result = inner.spawn(view).await;
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
