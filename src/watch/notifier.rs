//! The notifier's place in a session: fed by the fan-out, and given a bounded last moment at
//! the stop, so that what it still says (a webhook failing during Ctrl+C) is written before
//! the `shutdown` line, never after it.

use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::notify::{self, NotifierConfig};
use crate::report::event::Event;

/// Room for the events a burst hands the notifier; it takes what fits (the watch never waits
/// on a webhook).
const QUEUE: usize = 4096;

/// How long queued notifications may take to go out after Ctrl+C (the whole stop must stay
/// under a second).
const LAST_MOMENT: Duration = Duration::from_millis(400);

/// The running notifier, as the session's stop sees it.
pub struct Notifier {
    task: JoinHandle<()>,
    release: CancellationToken,
    cancel: CancellationToken,
}

/// The notifier's end of the fan-out: its queue, until `release` fires.
pub struct Input {
    pub events: mpsc::Sender<Event>,
    pub release: CancellationToken,
}

impl Notifier {
    /// Starts the notifier on `tasks`; it reports on `report`, the session's event stream.
    pub fn start(
        config: NotifierConfig,
        report: mpsc::Sender<Event>,
        tasks: &TaskTracker,
    ) -> (Notifier, Input) {
        let (events, rx) = mpsc::channel(QUEUE);
        let cancel = CancellationToken::new();
        let release = CancellationToken::new();
        let task = notify::spawn(config, rx, report, cancel.clone(), tasks);
        let input = Input {
            events,
            release: release.clone(),
        };
        let notifier = Notifier {
            task,
            release,
            cancel,
        };
        (notifier, input)
    }

    /// Closes the notifier's input once the fan-out has handed it everything sent so far, lets
    /// it deliver for at most [`LAST_MOMENT`], then cancels what is left. Returns once the
    /// notifier has ended, so everything it reported is in the stream before what follows.
    pub async fn last_moment(self) {
        self.release.cancel();
        let mut task = self.task;
        if tokio::time::timeout(LAST_MOMENT, &mut task).await.is_err() {
            self.cancel.cancel();
            let _ = task.await;
        }
    }
}
