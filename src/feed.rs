//! The status feed: the only caller of the list endpoint. One paginated sweep per tick for the
//! whole fleet (⌈N/25⌉ calls, never one show-one per instance), published to every monitor and
//! to the supervisor through one watch channel.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::api::{Api, Instance};
use crate::backoff::{Backoff, Jitter};
use crate::report::event::{Event, EventKind};
use crate::status::Status;

/// One finished sweep: every instance of the account, by id.
#[derive(Debug, Default)]
pub struct Sweep {
    pub rows: HashMap<u64, Instance>,
    /// How many rows are running: the log fetches every monitor queues behind.
    pub running: usize,
}

impl Sweep {
    /// The row for `id`, `None` when the account no longer has it.
    pub fn row(&self, id: u64) -> Option<Instance> {
        self.rows.get(&id).cloned()
    }
}

/// `None` until the first sweep has finished.
pub type SweepSlot = Option<Arc<Sweep>>;

/// How often to sweep and how to back off; changes with the fleet file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cadence {
    pub interval: Duration,
    pub max_backoff: Duration,
}

/// Sweeps until cancelled. Failures are reported once per attempt and retried with backoff;
/// the feed never ends on its own.
pub async fn run<A: Api>(
    api: Arc<A>,
    mut cadence: watch::Receiver<Cadence>,
    sweeps: watch::Sender<SweepSlot>,
    events: mpsc::Sender<Event>,
    cancel: CancellationToken,
) {
    let mut failures: u32 = 0;
    // A paging that stops early is said when it starts happening, not at every sweep.
    let mut paging_said = false;
    let mut jitter = Jitter::seeded(0x5eed);
    loop {
        let started = Instant::now();
        let result = tokio::select! {
            result = api.list_all(None) => result,
            _ = cancel.cancelled() => return,
        };
        let current = *cadence.borrow_and_update();
        let wait = match result {
            Ok(listing) => {
                if listing.stopped.is_some() != paging_said {
                    paging_said = listing.stopped.is_some();
                    let message = listing
                        .stopped
                        .unwrap_or_else(|| "the instance list is read to its end again".into());
                    let _ = events.send(Event::now(EventKind::Notice { message })).await;
                }
                let instances = listing.instances;
                if failures > 0 {
                    let kind = EventKind::Recovered {
                        source: None,
                        failed_attempts: failures,
                    };
                    let _ = events.send(Event::now(kind)).await;
                    failures = 0;
                }
                let rows: HashMap<u64, Instance> = instances
                    .into_iter()
                    .filter_map(|row| Some((row.id?, row)))
                    .collect();
                let running = rows
                    .values()
                    .filter(|row| Status::of(Some(row)) == Status::Running)
                    .count();
                sweeps.send_replace(Some(Arc::new(Sweep { rows, running })));
                // A sweep of a large fleet takes a while itself; the interval is from its start.
                current.interval.saturating_sub(started.elapsed())
            }
            Err(error) => {
                failures += 1;
                let backoff = Backoff::new(current.interval, current.max_backoff);
                let retry_in = backoff.delay(failures, jitter.next_unit(), error.retry_after());
                let kind = EventKind::ApiError {
                    source: None,
                    attempt: failures,
                    retry_in,
                    error: format!("status sweep: {error}"),
                };
                let _ = events.send(Event::now(kind)).await;
                retry_in
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            // A shorter interval from a reload applies now, not after the old one ran out.
            Ok(()) = cadence.changed() => {}
            _ = cancel.cancelled() => return,
        }
    }
}
