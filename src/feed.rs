//! The status feed: the only caller of the list endpoint. One paginated sweep per tick for the
//! whole fleet (⌈N/25⌉ calls, never one show-one per instance), published to every monitor and
//! to the supervisor through one watch channel.
//!
//! Each page's rows also go out on their own as the page arrives, each to its own monitor
//! ([`PageRows`]): at a thousand instances a sweep takes ~42 s, and a row that shows a job
//! ending (issue 18) would otherwise wait on average half of that for the last page. Only the
//! finished [`Sweep`] says that an instance is absent: a page cannot know what the other pages
//! hold.

mod rows;

pub use rows::{PageRow, PageRows, RowSlot};

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::api::{Api, ApiError, Instance};
use crate::backoff::{Backoff, Jitter};
use crate::report::event::{Event, EventKind};
use crate::service::{self, Beat};
use crate::status::Status;

/// One finished sweep: every instance of the account, by id.
#[derive(Debug, Default)]
pub struct Sweep {
    pub rows: HashMap<u64, Instance>,
    /// How many rows are running: the log fetches every monitor queues behind.
    pub running: usize,
    /// The sweep's number, counting every sweep begun (1 is the first); its pages carry it too.
    pub number: u64,
}

fn by_id(rows: impl IntoIterator<Item = Instance>) -> HashMap<u64, Instance> {
    rows.into_iter()
        .filter_map(|row| Some((row.id?, row)))
        .collect()
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

/// The sweep's current run of failures. Each failure is said, except a refused key after the
/// first refusal of its episode: a key revoked while watching is ridden out for as long as it
/// takes, and one line saying so is enough (issue 12; it spoke at every retry before).
#[derive(Debug, Default)]
struct FailureRun {
    attempts: u32,
    key_said: bool,
}

/// Appended to the one line of a refused-key episode, so the reader knows why no more follow.
const KEY_EPISODE: &str = "watching goes on, retrying with backoff; said once until the key \
                           works again";

impl FailureRun {
    /// Counts a failure and returns what to say about it, if anything.
    fn fail(&mut self, error: &ApiError) -> Option<String> {
        self.attempts = self.attempts.saturating_add(1);
        let refused = matches!(error, ApiError::Unauthorized { .. });
        let already_said = refused && self.key_said;
        // Any other failure ends the episode: a refusal after it is news again.
        self.key_said = refused;
        match (refused, already_said) {
            (_, true) => None,
            (true, false) => Some(format!("status sweep: {error}; {KEY_EPISODE}")),
            (false, false) => Some(format!("status sweep: {error}")),
        }
    }

    /// Ends the run; how many attempts failed in it.
    fn succeed(&mut self) -> u32 {
        std::mem::take(self).attempts
    }
}

/// Where the feed publishes: finished sweeps, and each page's rows as the page arrives.
pub struct Outlets {
    pub sweeps: watch::Sender<SweepSlot>,
    pub pages: PageRows,
}

/// Sweeps until cancelled. Failures are reported once per attempt and retried with backoff;
/// the feed never ends on its own. Every page and every attempt beats `service`'s watchdog.
pub async fn run<A: Api>(
    api: Arc<A>,
    mut cadence: watch::Receiver<Cadence>,
    outlets: Outlets,
    events: mpsc::Sender<Event>,
    service: service::Handle,
    cancel: CancellationToken,
) {
    let Outlets { sweeps, pages } = outlets;
    let mut failures = FailureRun::default();
    // A paging that stops early is said when it starts happening, not at every sweep.
    let mut paging_said = false;
    let mut jitter = Jitter::seeded(0x5eed);
    let mut number: u64 = 0;
    let mut last_running = 0;
    loop {
        let started = Instant::now();
        number += 1;
        let result = tokio::select! {
            result = api.list_all_each(None, |rows: &[Instance]| {
                service.beat(Beat::Page);
                pages.publish(number, last_running, rows);
            }) => result,
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
                let failed_attempts = failures.succeed();
                if failed_attempts > 0 {
                    let kind = EventKind::Recovered {
                        source: None,
                        failed_attempts,
                    };
                    let _ = events.send(Event::now(kind)).await;
                }
                let rows = by_id(instances);
                let running = rows
                    .values()
                    .filter(|row| Status::of(Some(row)) == Status::Running)
                    .count();
                last_running = running;
                pages.prune();
                sweeps.send_replace(Some(Arc::new(Sweep {
                    rows,
                    running,
                    number,
                })));
                // A sweep of a large fleet takes a while itself; the interval is from its start.
                current.interval.saturating_sub(started.elapsed())
            }
            Err(error) => {
                let say = failures.fail(&error);
                let backoff = Backoff::new(current.interval, current.max_backoff);
                let retry_in = backoff.retry_delay(failures.attempts, jitter.next_unit(), &error);
                if let Some(error) = say {
                    let kind = EventKind::ApiError {
                        source: None,
                        attempt: failures.attempts,
                        retry_in,
                        error,
                    };
                    let _ = events.send(Event::now(kind)).await;
                }
                retry_in
            }
        };
        // Failed or not: an outage is ridden out here, and restarting would not end it.
        service.beat(Beat::Attempt { wait });
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            // A shorter interval from a reload applies now, not after the old one ran out.
            Ok(()) = cadence.changed() => {}
            _ = cancel.cancelled() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused() -> ApiError {
        ApiError::Unauthorized {
            key_source: "environment variable VAST_API_KEY".into(),
            message: "HTTP 404: Invalid user key".into(),
        }
    }

    #[test]
    fn a_refused_key_is_said_once_per_episode_and_other_failures_every_time() {
        let mut run = FailureRun::default();
        let first = run.fail(&refused()).expect("the first refusal is said");
        assert!(first.contains("refused the key read from environment variable VAST_API_KEY"));
        assert!(first.ends_with(KEY_EPISODE), "{first}");
        assert_eq!(run.fail(&refused()), None);
        assert_eq!(run.fail(&refused()), None);
        let outage = ApiError::Transient("HTTP 503".into());
        assert_eq!(
            run.fail(&outage).as_deref(),
            Some("status sweep: temporary API failure: HTTP 503")
        );
        assert!(
            run.fail(&outage).is_some(),
            "an outage is said at every try"
        );
        assert!(
            run.fail(&refused()).is_some(),
            "a new episode is said again"
        );
        assert_eq!(run.fail(&refused()), None);
        assert_eq!(run.attempts, 7, "every attempt counts for the backoff");
        assert_eq!(run.succeed(), 7);
        assert!(
            run.fail(&refused()).is_some(),
            "after a success, a refusal is news"
        );
    }
}
