//! Each endpoint's queue of waiting callers: who goes next. Kept apart from the budget (how
//! fast, and when) so the order can change without touching the pace: today callers of one
//! endpoint are served in the order they called (tokio's mutex is fair); a scheduler can give
//! request_logs its own order here.

use tokio::sync::{Mutex, MutexGuard};
use tokio::time::Instant;

#[derive(Debug, Default)]
pub(super) struct Queue {
    /// Held by the caller at the head; holds the instant the endpoint's last call went out.
    head: Mutex<Option<Instant>>,
}

/// The head of the queue: the only caller of this endpoint that may go next. Dropping it (the
/// call went out, or the caller gave up) lets the next one on.
pub(super) struct Turn<'a> {
    last: MutexGuard<'a, Option<Instant>>,
}

impl Queue {
    /// Waits until this caller is at the head of the queue.
    pub(super) async fn turn(&self) -> Turn<'_> {
        Turn {
            last: self.head.lock().await,
        }
    }
}

impl Turn<'_> {
    /// When the endpoint's previous call went out.
    pub(super) fn last(&self) -> Option<Instant> {
        *self.last
    }

    /// This call goes out now.
    pub(super) fn went(&mut self, at: Instant) {
        *self.last = Some(at);
    }
}
