//! Is the watcher still doing its job? The one thing it must keep doing is the status sweep:
//! every guard, completion and action rests on it. `GET /healthz` and the
//! `vastfleet_last_sweep_timestamp_seconds` gauge both read the time of the last good sweep.
//!
//! The sweep may fail for `[api] api_down_after` before the API counts as down (the `api_down`
//! notification); the first failure comes one sweep interval after the last success, so the
//! last good sweep may be that much older still. Judging by `api_down_after` alone would fail
//! a healthy watcher whose interval is longer than it.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::task::TaskTracker;

use super::text::{Exposition, Kind};
use super::Metrics;
use crate::config::Settings;
use crate::feed::SweepSlot;
use crate::report::words;

/// How old the last good sweep may be before the watcher counts as unhealthy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// `[api] api_down_after`.
    pub down_after: Duration,
    /// The status sweep's interval (the shortest `interval` of the fleet).
    pub interval: Duration,
}

impl Window {
    pub fn of(settings: &Settings) -> Window {
        Window {
            down_after: settings.api_down_after,
            interval: crate::fleet::cadence_of(settings).interval,
        }
    }

    pub fn limit(self) -> Duration {
        self.down_after.saturating_add(self.interval)
    }
}

impl Default for Window {
    fn default() -> Self {
        Window::of(&Settings::default())
    }
}

/// The answer of `/healthz`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// The last good sweep finished `age` ago, within the window.
    Fresh { age: Duration },
    /// No sweep has finished yet, `waited` after start, within the window.
    Starting { waited: Duration },
    /// The last good sweep is older than the window.
    Stale { age: Duration, window: Window },
    /// No sweep has finished in longer than the window since start.
    NeverSwept { waited: Duration, window: Window },
}

/// Pure: the verdict at `now` for a watcher started at `started` whose last good sweep
/// finished at `last`.
pub fn judge(now: Instant, started: Instant, last: Option<Instant>, window: Window) -> Health {
    match last {
        Some(at) => {
            let age = now.saturating_duration_since(at);
            match age <= window.limit() {
                true => Health::Fresh { age },
                false => Health::Stale { age, window },
            }
        }
        None => {
            let waited = now.saturating_duration_since(started);
            match waited <= window.limit() {
                true => Health::Starting { waited },
                false => Health::NeverSwept { waited, window },
            }
        }
    }
}

impl Health {
    pub fn is_ok(self) -> bool {
        matches!(self, Health::Fresh { .. } | Health::Starting { .. })
    }

    /// One line for the response body: the verdict and the age it rests on.
    pub fn message(self) -> String {
        let why = |window: Window| {
            format!(
                "longer than api_down_after ({}) plus the sweep interval ({})",
                words::duration(window.down_after),
                words::duration(window.interval)
            )
        };
        match self {
            Health::Fresh { age } => {
                format!("ok: last status sweep {} ago", words::duration(age))
            }
            Health::Starting { waited } => format!(
                "ok: starting, no status sweep yet ({} since start)",
                words::duration(waited)
            ),
            Health::Stale { age, window } => format!(
                "unhealthy: the last good status sweep was {} ago, {}",
                words::duration(age),
                why(window)
            ),
            Health::NeverSwept { waited, window } => format!(
                "unhealthy: no status sweep has succeeded in the {} since start, {}",
                words::duration(waited),
                why(window)
            ),
        }
    }
}

/// What the registry keeps about sweeps.
#[derive(Debug)]
pub(super) struct Sweeps {
    started: Instant,
    /// The last good sweep: monotonic for its age, wall clock for the gauge.
    last: Option<(Instant, SystemTime)>,
    window: Window,
}

impl Default for Sweeps {
    fn default() -> Self {
        Sweeps {
            started: Instant::now(),
            last: None,
            window: Window::default(),
        }
    }
}

impl Sweeps {
    pub(super) fn health(&self, now: Instant) -> Health {
        judge(now, self.started, self.last.map(|l| l.0), self.window)
    }

    pub(super) fn render(&self, text: &mut Exposition) {
        let mut family = text.family(
            "vastfleet_last_sweep_timestamp_seconds",
            Kind::Gauge,
            "When the last successful status sweep finished, in seconds since the epoch.",
        );
        if let Some((_, at)) = self.last {
            let secs = at.duration_since(UNIX_EPOCH).unwrap_or_default();
            family.sample(&[], secs.as_secs_f64());
        }
        let mut family = text.family(
            "vastfleet_sweep_stale_after_seconds",
            Kind::Gauge,
            "Age of the last good status sweep beyond which /healthz answers 503 \
             (api_down_after plus the sweep interval).",
        );
        family.sample(&[], self.window.limit().as_secs_f64());
    }
}

impl Metrics {
    /// A status sweep has just succeeded.
    pub fn sweep_done(&self) {
        self.lock().sweeps.last = Some((Instant::now(), SystemTime::now()));
    }

    pub fn set_health_window(&self, window: Window) {
        self.lock().sweeps.window = window;
    }

    /// The verdict of `/healthz` now.
    pub fn health(&self) -> Health {
        self.lock().sweeps.health(Instant::now())
    }

    /// Follows a watch session: every sweep published on `sweeps` (only good ones are), and
    /// the window of every reloaded `settings`. Ends when the sweeps' sender is dropped.
    pub fn follow(
        &self,
        mut sweeps: watch::Receiver<SweepSlot>,
        mut settings: watch::Receiver<Arc<Settings>>,
        tasks: &TaskTracker,
    ) -> JoinHandle<()> {
        let metrics = self.clone();
        metrics.set_health_window(Window::of(&settings.borrow_and_update()));
        tasks.spawn(async move {
            loop {
                tokio::select! {
                    changed = sweeps.changed() => {
                        if changed.is_err() {
                            return;
                        }
                        if sweeps.borrow_and_update().is_some() {
                            metrics.sweep_done();
                        }
                    }
                    Ok(()) = settings.changed() => {
                        let window = Window::of(&settings.borrow_and_update());
                        metrics.set_health_window(window);
                    }
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WINDOW: Window = Window {
        down_after: Duration::from_secs(60),
        interval: Duration::from_secs(5),
    };

    #[test]
    fn the_last_good_sweep_is_judged_against_the_window_plus_an_interval() {
        let start = Instant::now();
        let s = Duration::from_secs;
        let cases = [
            (s(0), None, Health::Starting { waited: s(0) }),
            (s(65), None, Health::Starting { waited: s(65) }),
            (
                s(66),
                None,
                Health::NeverSwept {
                    waited: s(66),
                    window: WINDOW,
                },
            ),
            (s(10), Some(s(9)), Health::Fresh { age: s(1) }),
            (s(100), Some(s(35)), Health::Fresh { age: s(65) }),
            (
                s(100),
                Some(s(34)),
                Health::Stale {
                    age: s(66),
                    window: WINDOW,
                },
            ),
        ];
        for (now, last, expected) in cases {
            let verdict = judge(start + now, start, last.map(|l| start + l), WINDOW);
            assert_eq!(verdict, expected, "at {now:?} after a sweep at {last:?}");
            assert_eq!(
                verdict.is_ok(),
                matches!(expected, Health::Fresh { .. } | Health::Starting { .. })
            );
        }
    }

    #[test]
    fn the_message_gives_the_age_and_the_reason() {
        let s = Duration::from_secs;
        assert_eq!(
            Health::Fresh { age: s(3) }.message(),
            "ok: last status sweep 3s ago"
        );
        assert_eq!(
            Health::Stale {
                age: s(150),
                window: WINDOW
            }
            .message(),
            "unhealthy: the last good status sweep was 2.5m ago, longer than api_down_after \
             (1m) plus the sweep interval (5s)"
        );
        assert!(Health::NeverSwept {
            waited: s(70),
            window: WINDOW
        }
        .message()
        .starts_with("unhealthy: no status sweep has succeeded in the 1.2m since start"));
    }

    #[tokio::test(start_paused = true)]
    async fn the_verdict_follows_the_clock_and_the_sweeps() {
        let metrics = Metrics::new();
        metrics.set_health_window(WINDOW);
        assert!(matches!(metrics.health(), Health::Starting { .. }));
        tokio::time::advance(Duration::from_secs(66)).await;
        assert!(
            matches!(metrics.health(), Health::NeverSwept { .. }),
            "no sweep for longer than the window"
        );
        metrics.sweep_done();
        assert_eq!(
            metrics.health(),
            Health::Fresh {
                age: Duration::ZERO
            }
        );
        tokio::time::advance(Duration::from_secs(65)).await;
        assert!(metrics.health().is_ok());
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(
            metrics.health(),
            Health::Stale {
                age: Duration::from_secs(66),
                window: WINDOW
            }
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_session_is_followed_through_sweeps_and_reloads() {
        let metrics = Metrics::new();
        let (sweeps_tx, sweeps) = watch::channel::<SweepSlot>(None);
        let mut settings = Settings {
            api_down_after: Duration::from_secs(30),
            ..Settings::default()
        };
        let (settings_tx, settings_rx) = watch::channel(Arc::new(settings.clone()));
        let task = metrics.follow(sweeps, settings_rx, &TaskTracker::new());
        assert_eq!(
            metrics.lock().sweeps.window.down_after,
            Duration::from_secs(30)
        );

        tokio::time::advance(Duration::from_secs(40)).await;
        sweeps_tx.send_replace(Some(Arc::default()));
        tokio::task::yield_now().await;
        assert!(matches!(metrics.health(), Health::Fresh { .. }));
        assert!(metrics
            .render()
            .contains("vastfleet_last_sweep_timestamp_seconds 1"));

        settings.api_down_after = Duration::from_secs(600);
        settings_tx.send_replace(Arc::new(settings));
        tokio::task::yield_now().await;
        assert_eq!(
            metrics.lock().sweeps.window.down_after,
            Duration::from_secs(600)
        );

        drop(sweeps_tx);
        task.await.expect("the follower ends with the session");
    }
}
