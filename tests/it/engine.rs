//! The watch engine on tokio's paused clock: the real fleet supervisor, status feed, monitor
//! tasks, throttle and throttle reporter, against the in-memory fake API. Hours of fleet time
//! run in a moment of wall time, and every timing is exact. One submodule per property.

mod actions;
mod aimd;
mod cooldown;
mod fairness;
mod jobs_end;
mod queued;
mod reload;
mod storms;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use vastfleet::config::Settings;
use vastfleet::fleet::{self, FleetContext};
use vastfleet::monitor::machine::MachineOptions;
use vastfleet::report::event::{Event, EventKind, InstanceSummary};
use vastfleet::state::StateHandle;
use vastfleet::throttle::{RateLimit, Throttle, ThrottleConfig};

use crate::fake::FakeApi;

/// One event as the writer would have received it, stamped on the paused clock.
#[derive(Debug, Clone)]
pub struct Seen {
    /// Since the fleet started.
    pub at: Duration,
    pub kind: EventKind,
}

/// A running fleet: `fleet::supervise` plus `watch::report_throttle` on one event channel,
/// whose events are collected instead of written.
pub struct Fleet {
    pub api: Arc<FakeApi>,
    pub origin: Instant,
    settings: watch::Sender<Arc<Settings>>,
    cancel: CancellationToken,
    seen: Arc<Mutex<Vec<Seen>>>,
    supervisor: JoinHandle<Vec<InstanceSummary>>,
    helpers: Vec<JoinHandle<()>>,
}

impl Fleet {
    pub fn start(api: FakeApi, fleet_toml: &str) -> Fleet {
        let origin = Instant::now();
        let api = Arc::new(api);
        let cancel = CancellationToken::new();
        let (events, mut events_rx) = mpsc::channel::<Event>(4096);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let collector = {
            let seen = Arc::clone(&seen);
            tokio::spawn(async move {
                while let Some(event) = events_rx.recv().await {
                    let at = Instant::now() - origin;
                    seen.lock().unwrap().push(Seen {
                        at,
                        kind: event.kind,
                    });
                }
            })
        };
        let reporter = tokio::spawn(vastfleet::watch::report_throttle(
            api.throttle().clone(),
            events.clone(),
            cancel.child_token(),
        ));
        let settings = Arc::new(settings(fleet_toml));
        // As `watch` does: the fleet file chooses the log queue's order.
        api.throttle().log_queue().set_order(settings.api.log_order);
        let (settings, settings_rx) = watch::channel(settings);
        let ctx = FleetContext {
            api: Arc::clone(&api),
            events,
            state: StateHandle::disabled(),
            options: MachineOptions::default(),
            logs: api.throttle().log_queue().clone(),
            tasks: tokio_util::task::TaskTracker::new(),
            service: Default::default(),
        };
        let supervisor = tokio::spawn(fleet::supervise(ctx, None, settings_rx, cancel.clone()));
        Fleet {
            api,
            origin,
            settings,
            cancel,
            seen,
            supervisor,
            helpers: vec![reporter, collector],
        }
    }

    /// A live reload with this fleet file.
    pub fn reload(&self, fleet_toml: &str) {
        self.settings.send_replace(Arc::new(settings(fleet_toml)));
    }

    /// Time since the fleet started.
    pub fn elapsed(&self) -> Duration {
        Instant::now() - self.origin
    }

    pub fn events(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// The events `pick` selects, in order, with their time.
    pub fn picked<T>(&self, mut pick: impl FnMut(&EventKind) -> Option<T>) -> Vec<(Duration, T)> {
        let seen = self.seen.lock().unwrap();
        seen.iter()
            .filter_map(|s| pick(&s.kind).map(|t| (s.at, t)))
            .collect()
    }

    /// Lets the fleet run for `span` of paused-clock time.
    pub async fn run_for(&self, span: Duration) {
        tokio::time::sleep(span).await;
    }

    /// Ctrl+C: the summaries, after every task has ended.
    pub async fn stop(self) -> Vec<InstanceSummary> {
        self.cancel.cancel();
        let summary = self.supervisor.await.unwrap();
        drop(self.settings);
        for helper in self.helpers {
            // A monitor that outlived the shutdown would hold the event channel open.
            tokio::time::timeout(Duration::from_secs(60), helper)
                .await
                .expect("every task ends after shutdown")
                .unwrap();
        }
        summary
    }
}

pub fn settings(fleet_toml: &str) -> Settings {
    Settings::from_toml(fleet_toml, Path::new("fleet.toml")).unwrap()
}

/// A fleet file with these `[defaults]` lines and one `[[instance]]` per id.
pub fn fleet_file(defaults: &str, ids: impl IntoIterator<Item = u64>) -> String {
    let mut text = format!("[defaults]\n{defaults}\n");
    for id in ids {
        text.push_str(&format!("[[instance]]\nid = {id}\n"));
    }
    text
}

/// The documented per-endpoint gaps under this overall ceiling, self-tuning on.
pub fn throttle(per_second: f64, burst: u32) -> Throttle {
    Throttle::with_config(ThrottleConfig::new(RateLimit { per_second, burst }))
}

pub fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}
