//! Prometheus metrics: a [`Metrics`] registry fed by the event stream (plus a few direct setters
//! for what the stream does not carry: API calls, the throttle's pace, backoff, cost), rendered
//! as the text exposition format and served over HTTP by [`serve`].
//!
//! One mutex guards plain maps. Every update is a lookup and an increment, and a scrape renders
//! a few hundred lines, so the lock is never held long enough to matter; ordered maps give the
//! stable series order that makes scrapes diffable.

mod families;
mod health;
mod log_queue;
mod metered;
mod process;
mod serve;
mod text;

use crate::status::Status;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

use crate::report::event::{Completion, Event, EventKind, Failure, Source};
use crate::schedule::LogQueue;
use crate::throttle::Change;
use text::{Exposition, Kind};

pub use health::{Health, Window};
pub use metered::Metered;
pub use process::ProcessStats;
pub use serve::{exposure_warning, serve};
pub use text::{escape_label_value, CONTENT_TYPE};

/// The `scope` of fleet-wide API errors and backoff (the status sweep); instances use their label.
pub const FLEET_SCOPE: &str = "fleet";

/// Cheap to clone; every clone updates and renders the same registry.
#[derive(Debug, Clone, Default)]
pub struct Metrics {
    state: Arc<Mutex<State>>,
}

#[derive(Debug, Default)]
struct State {
    /// Watched instances and their gauges; an instance that leaves is removed.
    live: BTreeMap<u64, Live>,
    /// Counters by id, then label: they survive `Left` as counters should, and a relabelled
    /// instance starts a new series instead of inheriting the old one's count.
    counters: BTreeMap<u64, BTreeMap<String, InstanceCounters>>,
    api_calls: BTreeMap<String, BTreeMap<String, u64>>,
    api_rate_limited: u64,
    api_errors: BTreeMap<String, u64>,
    backoff: BTreeMap<String, f64>,
    effective_rate: Option<f64>,
    /// Read at each scrape: early fetches and signal-to-fetch times.
    log_queue: Option<LogQueue>,
    /// Episodes of failing state saves (`state_error` events).
    state_errors: u64,
    /// Per endpoint (by name): its pace (calls/s) and whether it is being rate limited.
    paces: BTreeMap<&'static str, (f64, bool)>,
    sweeps: health::Sweeps,
}

#[derive(Debug)]
struct Live {
    label: String,
    status: Option<Status>,
    dph: Option<f64>,
    spend: Option<f64>,
    /// The last new log line, or when watching it began until one comes: "how long has it
    /// been silent" without a special case for an instance that never spoke.
    last_log: Option<SystemTime>,
}

#[derive(Debug, Default)]
struct InstanceCounters {
    completions: u64,
    /// Job failures by reason ("log", "exited").
    failures: BTreeMap<&'static str, u64>,
    log_lines: u64,
    guards: BTreeMap<String, u64>,
    /// Keyed by (action, ok) where ok is "true", "false" or "dry_run".
    actions: BTreeMap<(&'static str, &'static str), u64>,
}

impl Metrics {
    pub fn new() -> Self {
        Metrics::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while holding the lock, and the maps stay consistent even if it did.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Folds one event of the stream into the registry.
    pub fn observe(&self, event: &Event) {
        let mut state = self.lock();
        match &event.kind {
            EventKind::Left { source } => {
                state.live.remove(&source.id);
                if &*source.label != FLEET_SCOPE {
                    state.backoff.remove(&*source.label);
                }
            }
            EventKind::Joined { source } => {
                state.touch(source).last_log.get_or_insert(event.at);
            }
            EventKind::Status { source, status, .. } => {
                let live = state.touch(source);
                live.status = Some(status.clone());
                live.last_log.get_or_insert(event.at);
            }
            EventKind::Log {
                source,
                history: false,
                ..
            } => {
                state.touch(source).last_log = Some(event.at);
                state.counters(source).log_lines += 1;
            }
            EventKind::Completion(Completion { source, cost, .. }) => {
                if let Some(dph) = cost.dph_total {
                    state.touch(source).dph = Some(dph);
                }
                state.counters(source).completions += 1;
            }
            EventKind::Failure(Failure { source, reason, .. }) => {
                *state
                    .counters(source)
                    .failures
                    .entry(reason.as_str())
                    .or_default() += 1;
            }
            EventKind::Action {
                source,
                action,
                ok,
                dry_run,
                ..
            } => {
                let ok = match (dry_run, ok) {
                    (true, _) => "dry_run",
                    (false, true) => "true",
                    (false, false) => "false",
                };
                *state
                    .counters(source)
                    .actions
                    .entry((action.as_str(), ok))
                    .or_default() += 1;
            }
            EventKind::Guard { source, guard, .. } => {
                *state
                    .counters(source)
                    .guards
                    .entry(guard.clone())
                    .or_default() += 1;
            }
            EventKind::ApiError {
                source, retry_in, ..
            } => {
                let scope = state.scope(source.as_ref());
                *state.api_errors.entry(scope.clone()).or_default() += 1;
                state.backoff.insert(scope, retry_in.as_secs_f64());
            }
            EventKind::Recovered { source, .. } => {
                let scope = state.scope(source.as_ref());
                state.backoff.insert(scope, 0.0);
            }
            EventKind::Throttle {
                scope,
                change,
                per_second,
                ..
            } => match scope.endpoint() {
                Some(endpoint) => {
                    let was = state.paces.get(endpoint.as_str()).is_some_and(|p| p.1);
                    let limited = match change {
                        Change::Limited => true,
                        Change::Step => was,
                        Change::Back => false,
                    };
                    state
                        .paces
                        .insert(endpoint.as_str(), (*per_second, limited));
                }
                None => state.effective_rate = Some(*per_second),
            },
            EventKind::StateError { .. } => state.state_errors += 1,
            _ => {}
        }
    }

    /// Counts one API call by endpoint and outcome ("200", "429", "error", ...).
    pub fn record_api_call(&self, endpoint: &str, status: &str) {
        let mut state = self.lock();
        let by_status = state.api_calls.entry(endpoint.to_owned()).or_default();
        *by_status.entry(status.to_owned()).or_default() += 1;
        if status == "429" {
            state.api_rate_limited += 1;
        }
    }

    /// The throttle's log queue, whose figures each scrape reads.
    pub fn attach_log_queue(&self, queue: LogQueue) {
        self.lock().log_queue = Some(queue);
    }

    pub fn set_effective_rate(&self, per_second: f64) {
        self.lock().effective_rate = Some(per_second);
    }

    /// The current wait before the next retry of `scope` ([`FLEET_SCOPE`] or a label); 0 when
    /// calls succeed.
    pub fn set_backoff(&self, scope: &str, seconds: f64) {
        self.lock().backoff.insert(scope.to_owned(), seconds);
    }

    /// Cost figures from a status row. Only instances the stream has announced are updated, so
    /// a sweep that still lists an instance after it left does not bring it back.
    /// The label stays the stream's: the API's own label may differ from the fleet file's.
    pub fn set_instance_cost(&self, id: u64, dph_total: Option<f64>, spend_usd: Option<f64>) {
        let mut state = self.lock();
        if let Some(live) = state.live.get_mut(&id) {
            live.dph = dph_total;
            live.spend = spend_usd;
        }
    }

    /// The registry in the Prometheus text exposition format 0.0.4, with the build and the
    /// process's own figures.
    pub fn render(&self) -> String {
        // Read outside the lock: a scrape's file reads never hold up the event stream.
        let process = ProcessStats::read();
        let mut text = Exposition::new();
        render_build_info(&mut text);
        self.lock().render(&mut text);
        process::render(&mut text, &process);
        text.finish()
    }
}

impl State {
    fn touch(&mut self, source: &Source) -> &mut Live {
        let live = self.live.entry(source.id).or_insert_with(|| Live {
            label: source.label.to_string(),
            status: None,
            dph: None,
            spend: None,
            last_log: None,
        });
        if *live.label != *source.label {
            live.label = source.label.to_string();
        }
        live
    }

    fn counters(&mut self, source: &Source) -> &mut InstanceCounters {
        self.touch(source);
        self.counters
            .entry(source.id)
            .or_default()
            .entry(source.label.to_string())
            .or_default()
    }

    fn scope(&mut self, source: Option<&Source>) -> String {
        match source {
            Some(source) => {
                self.touch(source);
                source.label.to_string()
            }
            None => FLEET_SCOPE.to_owned(),
        }
    }

    fn render(&self, text: &mut Exposition) {
        self.render_instances(text);
        self.render_counters(text);
        self.render_api(text);
        self.sweeps.render(text);
        let mut family = text.family(
            "vastfleet_state_errors_total",
            Kind::Counter,
            "Episodes of failing state-file saves (each begins with a state_error event).",
        );
        family.sample(&[], self.state_errors as f64);
        if let Some(queue) = &self.log_queue {
            log_queue::render(text, &queue.stats());
        }
    }
}

/// The Prometheus convention for "which build is this": a constant 1 whose labels say it, so
/// a dashboard can show the version and an alert can join on it.
fn render_build_info(text: &mut Exposition) {
    let mut family = text.family(
        "vastfleet_build_info",
        Kind::Gauge,
        "Always 1; the labels give the version and the platform it was built for.",
    );
    family.sample(
        &[
            ("version", env!("CARGO_PKG_VERSION")),
            ("os", std::env::consts::OS),
            ("arch", std::env::consts::ARCH),
        ],
        1.0,
    );
}

#[cfg(test)]
mod tests;
