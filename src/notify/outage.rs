//! The derived `api_down` topic: the status sweep (fleet-level `ApiError { source: None }`) has
//! been failing, with no fleet-level `Recovered` since, for at least the configured window. Time
//! is read from the events' own `at`, so this is pure and tests drive it with synthetic stamps.
//!
//! One `api_down` per outage; when an announced outage ends, one `api_up` in the same topic, so
//! whoever was paged also learns it is over. Outages shorter than the window say nothing.

use std::time::{Duration, SystemTime};

use super::format::{Notification, What};
use super::Topic;
use crate::report::event::{Event, EventKind};

#[derive(Debug)]
pub struct OutageTracker {
    window: Duration,
    outage: Option<Outage>,
}

#[derive(Debug)]
struct Outage {
    since: SystemTime,
    attempts: u32,
    last_error: String,
    announced: bool,
}

impl OutageTracker {
    pub fn new(window: Duration) -> Self {
        OutageTracker {
            window,
            outage: None,
        }
    }

    /// Every event is a chance to notice that the window has passed: the sweep's own retries
    /// may be minutes apart, while logs and statuses of other instances keep flowing.
    pub fn observe(&mut self, event: &Event) -> Option<Notification> {
        match &event.kind {
            EventKind::ApiError {
                source: None,
                attempt,
                error,
                ..
            } => {
                let outage = self.outage.get_or_insert_with(|| Outage {
                    since: event.at,
                    attempts: 0,
                    last_error: String::new(),
                    announced: false,
                });
                outage.attempts = outage.attempts.saturating_add(1).max(*attempt);
                outage.last_error.clone_from(error);
            }
            EventKind::Recovered { source: None, .. } => {
                let outage = self.outage.take()?;
                return outage.announced.then_some(Notification {
                    topic: Topic::ApiDown,
                    at: event.at,
                    what: What::ApiUp {
                        since: outage.since,
                    },
                });
            }
            _ => {}
        }
        self.at(event.at)
    }

    /// When the outage under way reaches the window, if it has not been said yet. The notifier
    /// wakes then even if nothing else happens: a refused key is said once and then silence
    /// follows (issue 12), so waiting for the next event could wait for ever.
    pub fn due(&self) -> Option<SystemTime> {
        let outage = self.outage.as_ref().filter(|o| !o.announced)?;
        outage.since.checked_add(self.window)
    }

    /// The `api_down` notification, once, when the outage has lasted the window by `now`.
    pub fn at(&mut self, now: SystemTime) -> Option<Notification> {
        let outage = self.outage.as_mut()?;
        let failing_for = now.duration_since(outage.since).unwrap_or_default();
        if outage.announced || failing_for < self.window {
            return None;
        }
        outage.announced = true;
        Some(Notification {
            topic: Topic::ApiDown,
            at: now,
            what: What::ApiDown {
                since: outage.since,
                attempts: outage.attempts,
                error: outage.last_error.clone(),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::event::Source;

    const T0: SystemTime = SystemTime::UNIX_EPOCH;

    fn at(secs: u64, kind: EventKind) -> Event {
        Event {
            at: T0 + Duration::from_secs(secs),
            kind,
        }
    }

    fn fleet_error(attempt: u32) -> EventKind {
        EventKind::ApiError {
            source: None,
            attempt,
            retry_in: Duration::from_secs(30),
            error: format!("HTTP 503 #{attempt}"),
        }
    }

    fn recovered() -> EventKind {
        EventKind::Recovered {
            source: None,
            failed_attempts: 3,
        }
    }

    fn notice() -> EventKind {
        EventKind::Notice {
            message: "tick".to_owned(),
        }
    }

    /// Feeds `(seconds, kind)` and returns which events produced what.
    fn run(window: u64, events: Vec<(u64, EventKind)>) -> Vec<(u64, What)> {
        let mut tracker = OutageTracker::new(Duration::from_secs(window));
        events
            .into_iter()
            .filter_map(|(secs, kind)| tracker.observe(&at(secs, kind)).map(|n| (secs, n.what)))
            .collect()
    }

    #[test]
    fn fires_once_when_the_window_passes_and_once_more_on_recovery() {
        let out = run(
            60,
            vec![
                (0, fleet_error(1)),
                (30, fleet_error(2)),
                (59, notice()),
                (61, notice()),
                (90, fleet_error(3)),
                (150, fleet_error(4)),
                (200, recovered()),
                (210, recovered()),
            ],
        );
        assert_eq!(
            out,
            [
                (
                    61,
                    What::ApiDown {
                        since: T0,
                        attempts: 2,
                        error: "HTTP 503 #2".to_owned()
                    }
                ),
                (200, What::ApiUp { since: T0 }),
            ]
        );
    }

    #[test]
    fn a_short_outage_says_nothing_and_the_next_one_starts_afresh() {
        let out = run(
            60,
            vec![
                (0, fleet_error(1)),
                (50, recovered()),
                (100, fleet_error(1)),
                (150, notice()),
                (161, fleet_error(2)),
            ],
        );
        let since = T0 + Duration::from_secs(100);
        assert_eq!(
            out,
            [(
                161,
                What::ApiDown {
                    since,
                    attempts: 2,
                    error: "HTTP 503 #2".to_owned()
                }
            )]
        );
    }

    #[test]
    fn instance_level_errors_are_not_an_api_outage() {
        let source = Source {
            id: 1,
            label: "a".into(),
        };
        let out = run(
            10,
            vec![
                (
                    0,
                    EventKind::ApiError {
                        source: Some(source.clone()),
                        attempt: 1,
                        retry_in: Duration::from_secs(5),
                        error: "HTTP 500".to_owned(),
                    },
                ),
                (100, notice()),
                (
                    101,
                    EventKind::Recovered {
                        source: Some(source),
                        failed_attempts: 1,
                    },
                ),
            ],
        );
        assert_eq!(out, []);
    }

    #[test]
    fn the_window_is_due_without_another_event_and_fires_once() {
        let mut tracker = OutageTracker::new(Duration::from_secs(60));
        assert_eq!(tracker.due(), None);
        assert_eq!(tracker.observe(&at(10, fleet_error(1))), None);
        let due = T0 + Duration::from_secs(70);
        assert_eq!(tracker.due(), Some(due));
        assert_eq!(tracker.at(due - Duration::from_secs(1)), None);
        let fired = tracker.at(due).map(|n| n.what);
        assert_eq!(
            fired,
            Some(What::ApiDown {
                since: T0 + Duration::from_secs(10),
                attempts: 1,
                error: "HTTP 503 #1".to_owned()
            })
        );
        assert_eq!(tracker.due(), None, "said: nothing more is due");
        assert_eq!(tracker.at(due + Duration::from_secs(60)), None);
        let up = tracker.observe(&at(200, recovered())).map(|n| n.what);
        assert_eq!(
            up,
            Some(What::ApiUp {
                since: T0 + Duration::from_secs(10)
            })
        );
    }

    #[test]
    fn a_clock_stepping_backwards_does_not_fire_early() {
        let out = run(
            60,
            vec![(100, fleet_error(1)), (10, notice()), (161, notice())],
        );
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].0, 161);
    }
}
