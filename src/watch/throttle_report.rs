//! The throttle reporter: the session's task that turns the throttle's changes into `throttle`
//! events (see [`crate::throttle::changes`]).

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::report::event::Event;
use crate::throttle::Throttle;

/// Runs until `cancel`. Public so paused-clock tests can run it beside
/// [`crate::fleet::supervise`] without a stdout writer.
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
