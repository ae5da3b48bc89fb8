//! The board: the watcher's live state, folded from the event stream it already emits (the
//! same events the writer prints, so the view cannot tell a different story than the stream),
//! plus a ring of the recent events for `/v1/events` to replay on connect.
//!
//! What the stream does not carry (GPU, price, start date) is read from the latest status
//! sweep, the very `Arc` the monitors read, and only when a snapshot is asked for: a watcher
//! nobody looks at pays one lock, one map update and one event clone per event, nothing more.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

use tokio::sync::{broadcast, watch};

use super::encode::{fleet_json, Kept, RowFacts};
use super::snapshot::{
    epoch_seconds, ActionView, ApiHealth, ApiView, EndpointView, FleetSnapshot, GuardView,
    InstanceView, LogLine, LogView, Totals, VERSION,
};
use crate::cost::estimate_spend;
use crate::feed::{Sweep, SweepSlot};
use crate::report::event::{Event, EventKind, Source};
use crate::report::sanitize::clean_line;
use crate::status::Status;
use crate::throttle::{Endpoint, Throttle, ThrottleConfig, ThrottleStatus};

/// Log lines kept per instance for the log pane; `top` keeps its own longer history while the
/// pane is open. Small on purpose: at 1,000 instances this is most of the board's memory.
pub const RECENT_LINES: usize = 24;
/// Characters kept of one log line (the pane is one terminal line per log line).
const LINE_CHARS: usize = 400;
/// Actions remembered per instance.
const RECENT_ACTIONS: usize = 8;
/// Events `/v1/events` replays to a new reader.
pub const REPLAY: usize = 1000;
/// Events a slow reader may fall behind before it is told it missed some.
const LIVE_QUEUE: usize = 1024;

/// One sequence-numbered event as the ring and the live readers share it.
pub type Numbered = (u64, Arc<Event>);

/// Where the board reads what the stream does not say; each part is optional so tests and
/// `demo` can go without.
#[derive(Default)]
pub struct Sources {
    pub sweeps: Option<watch::Receiver<SweepSlot>>,
    pub throttle: Option<(Throttle, ThrottleConfig)>,
    pub fleet_file: Option<String>,
}

/// Cheap to clone; every clone shares one board.
#[derive(Clone)]
pub struct Board {
    shared: Arc<Shared>,
}

struct Shared {
    inner: Mutex<Inner>,
    sources: Sources,
    throttle_status: Option<watch::Receiver<ThrottleStatus>>,
    started_at: SystemTime,
    live: broadcast::Sender<Numbered>,
}

#[derive(Default)]
struct Inner {
    instances: BTreeMap<u64, Tracked>,
    /// Consecutive failed sweeps: (attempt, first failure, last error).
    sweep_failing: Option<(u32, SystemTime, String)>,
    ring: VecDeque<Numbered>,
    seq: u64,
    /// `/v1/fleet` answers given: each kept encoding is stamped with the one that made it.
    asks: u64,
}

#[derive(Default)]
struct Tracked {
    label: String,
    status: Option<Status>,
    message: Option<String>,
    recent: VecDeque<LogLine>,
    last_new_line_at: Option<SystemTime>,
    log_lines: u64,
    completions: u32,
    failures: u32,
    failed_actions: u32,
    guard: Option<GuardView>,
    actions: VecDeque<ActionView>,
    error: Option<String>,
    /// Its `/v1/fleet` JSON, until something here or in its row changes.
    kept: Kept,
}

impl Board {
    pub fn new(sources: Sources) -> Board {
        let throttle_status = sources.throttle.as_ref().map(|(t, _)| t.subscribe());
        let (live, _) = broadcast::channel(LIVE_QUEUE);
        Board {
            shared: Arc::new(Shared {
                inner: Mutex::new(Inner::default()),
                sources,
                throttle_status,
                started_at: SystemTime::now(),
                live,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Every update is a few field writes; a panic cannot leave the maps half-changed.
        self.shared
            .inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Folds one event of the stream in and hands it to the live readers.
    pub fn observe(&self, event: &Event) {
        let mut inner = self.lock();
        inner.fold(event);
        inner.seq += 1;
        let numbered = (inner.seq, Arc::new(event.clone()));
        if inner.ring.len() == REPLAY {
            inner.ring.pop_front();
        }
        inner.ring.push_back(numbered.clone());
        if self.shared.live.receiver_count() > 0 {
            // Sent under the lock, so a reader subscribing meanwhile sees each event once:
            // either in its replay or live, never both, never neither.
            let _ = self.shared.live.send(numbered);
        }
    }

    /// The recent events (oldest first) and a receiver for every later one.
    pub fn subscribe(&self) -> (Vec<Numbered>, broadcast::Receiver<Numbered>) {
        let inner = self.lock();
        let replay = inner.ring.iter().cloned().collect();
        (replay, self.shared.live.subscribe())
    }

    /// The recent log of one instance, `None` when it is not watched.
    pub fn log(&self, id: u64) -> Option<LogView> {
        let inner = self.lock();
        let tracked = inner.instances.get(&id)?;
        Some(LogView {
            id,
            label: tracked.label.clone(),
            lines: tracked.recent.iter().cloned().collect(),
        })
    }

    /// The fleet now.
    pub fn snapshot(&self, now: SystemTime) -> FleetSnapshot {
        let at = epoch_seconds(now);
        let sweep = self.sweep();
        let inner = self.lock();
        let instances: Vec<InstanceView> = inner
            .instances
            .iter()
            .map(|(&id, tracked)| {
                let row = tracked.row(sweep.as_deref(), id);
                let mut view = tracked.view(id, RowFacts::of(row));
                view.spend_usd = row.and_then(|r| r.spend_usd(at));
                view
            })
            .collect();
        let failing = inner.sweep_failing.clone();
        let seq = inner.asks;
        drop(inner);
        let mut snapshot = self.head(now, failing);
        snapshot.seq = seq;
        snapshot.totals = totals(&instances);
        snapshot.instances = instances;
        snapshot
    }

    /// [`Board::snapshot`] as `/v1/fleet` sends it, re-encoding only the instances that
    /// changed since the last ask. With `since` (the `seq` of a reader's last answer) only the
    /// instances encoded after it are sent, and `ids` lists every one watched.
    pub fn snapshot_json(&self, now: SystemTime, since: Option<u64>) -> String {
        let at = epoch_seconds(now);
        let sweep = self.sweep();
        let mut inner = self.lock();
        inner.asks += 1;
        let ask = inner.asks;
        let mut instances = String::from("[");
        let mut ids = since.map(|_| Vec::with_capacity(inner.instances.len()));
        let mut totals = Totals::default();
        for (&id, tracked) in inner.instances.iter_mut() {
            tracked.encode(id, sweep.as_ref(), ask);
            let (dph_total, started_at) = tracked.kept.dph_and_start();
            let spend_usd = estimate_spend(dph_total, started_at, at);
            totals.add(
                tracked.status.as_ref(),
                dph_total,
                spend_usd,
                tracked.completions,
                tracked.failures,
            );
            if let Some(ids) = &mut ids {
                ids.push(id);
            }
            if since.is_some_and(|since| tracked.kept.stamp() <= since) {
                continue;
            }
            if instances.len() > 1 {
                instances.push(',');
            }
            tracked.kept.append(&mut instances, spend_usd);
        }
        instances.push(']');
        let failing = inner.sweep_failing.clone();
        drop(inner);
        let mut head = self.head(now, failing);
        head.totals = totals;
        head.seq = ask;
        head.changed_since = since;
        head.ids = ids;
        fleet_json(&head, &instances)
    }

    fn sweep(&self) -> SweepSlot {
        self.shared
            .sources
            .sweeps
            .as_ref()
            .and_then(|s| s.borrow().clone())
    }

    /// Everything of the snapshot but its instances and totals.
    fn head(&self, now: SystemTime, failing: Option<(u32, SystemTime, String)>) -> FleetSnapshot {
        FleetSnapshot {
            version: VERSION,
            pid: std::process::id(),
            at: epoch_seconds(now),
            started_at: epoch_seconds(self.shared.started_at),
            fleet_file: self.shared.sources.fleet_file.clone(),
            instances: Vec::new(),
            seq: 0,
            changed_since: None,
            ids: None,
            totals: Totals::default(),
            api: self.api_view(now, failing),
        }
    }

    fn api_view(&self, now: SystemTime, failing: Option<(u32, SystemTime, String)>) -> ApiView {
        let cooling = self.shared.throttle_status.as_ref().and_then(|status| {
            // Only a pause of the whole key is "cooling": one endpoint's pause leaves the
            // sweep going (issue 11), and its pace shows in `endpoints`.
            let status = status.borrow();
            let left = status
                .key_paused_until?
                .checked_duration_since(tokio::time::Instant::now())?;
            let names: Vec<&str> = status.key_limited.iter().map(|e| e.as_str()).collect();
            let reason = format!("rate limited on {}", names.join(", "));
            Some((now + left, Some(reason)))
        });
        let health = match (failing, cooling) {
            (_, Some((until, reason))) => ApiHealth::Cooling {
                until: epoch_seconds(until),
                reason,
            },
            (Some((attempt, since, error)), None) => ApiHealth::Failing {
                attempt,
                since: epoch_seconds(since),
                error,
            },
            (None, None) => ApiHealth::Ok,
        };
        let Some((throttle, _)) = &self.shared.sources.throttle else {
            return ApiView {
                health,
                per_second: None,
                calls: 0,
                rate_limited: 0,
                endpoints: Vec::new(),
            };
        };
        let stats = throttle.stats();
        let overall = stats.per_second.is_finite().then_some(stats.per_second);
        let endpoints = Endpoint::ALL
            .iter()
            .map(|&endpoint| {
                let pace = throttle.pace(endpoint);
                let by_gap = pace.is_finite().then_some(pace);
                let per_second = match (by_gap, overall) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                EndpointView {
                    endpoint: endpoint.as_str().to_owned(),
                    per_second,
                    calls: stats.calls.get(&endpoint).copied().unwrap_or(0),
                }
            })
            .collect();
        ApiView {
            health,
            per_second: overall,
            calls: stats.calls.values().sum(),
            rate_limited: stats.total_rate_limited(),
            endpoints,
        }
    }
}

impl Inner {
    fn fold(&mut self, event: &Event) {
        let at = event.at;
        match &event.kind {
            EventKind::Left { source } => {
                self.instances.remove(&source.id);
            }
            EventKind::ApiError {
                source: None,
                attempt,
                error,
                ..
            } => {
                let since = match &self.sweep_failing {
                    Some((_, since, _)) => *since,
                    None => at,
                };
                self.sweep_failing = Some((*attempt, since, error.clone()));
            }
            EventKind::Recovered { source: None, .. } => self.sweep_failing = None,
            kind => {
                if let Some(source) = kind.source() {
                    self.track(source).fold(kind, at);
                }
            }
        }
    }

    fn track(&mut self, source: &Source) -> &mut Tracked {
        let tracked = self.instances.entry(source.id).or_default();
        if *tracked.label != *source.label {
            tracked.label = source.label.to_string();
            tracked.kept.invalidate();
        }
        tracked
    }
}

impl Tracked {
    fn fold(&mut self, kind: &EventKind, at: SystemTime) {
        self.kept.invalidate();
        match kind {
            EventKind::Status {
                status, message, ..
            } => {
                self.status = Some(status.clone());
                self.message = message.as_deref().map(|m| clean_line(m).into_owned());
            }
            EventKind::Log { line, history, .. } => self.push_line(line, *history, at),
            EventKind::Completion(_) => self.completions += 1,
            EventKind::Failure(_) => self.failures += 1,
            EventKind::Action {
                action,
                ok,
                dry_run,
                reason,
                ..
            } => {
                if !ok && !dry_run {
                    self.failed_actions += 1;
                }
                if self.actions.len() == RECENT_ACTIONS {
                    self.actions.pop_front();
                }
                self.actions.push_back(ActionView {
                    action: action.as_str().to_owned(),
                    ok: *ok,
                    dry_run: *dry_run,
                    reason: reason.clone(),
                    at: epoch_seconds(at),
                });
            }
            EventKind::Guard {
                guard,
                action,
                detail,
                ..
            } => {
                self.guard = Some(GuardView {
                    guard: guard.clone(),
                    action: action.map(|a| a.as_str().to_owned()),
                    detail: detail.clone(),
                    at: epoch_seconds(at),
                });
            }
            EventKind::ApiError { error, .. } => self.error = Some(error.clone()),
            EventKind::Recovered { .. } => self.error = None,
            _ => {}
        }
    }

    fn push_line(&mut self, line: &str, history: bool, at: SystemTime) {
        let clean = clean_line(line);
        let line: String = clean.chars().take(LINE_CHARS).collect();
        if self.recent.len() == RECENT_LINES {
            self.recent.pop_front();
        }
        self.recent.push_back(LogLine {
            at: epoch_seconds(at),
            line,
            history,
        });
        if !history {
            self.log_lines += 1;
            self.last_new_line_at = Some(at);
        }
    }

    /// Makes sure its kept encoding is current, encoding it afresh (stamped `ask`) if not.
    fn encode(&mut self, id: u64, sweep: Option<&Arc<Sweep>>, ask: u64) {
        let row = self.row(sweep.map(|s| &**s), id);
        if let Err(facts) = self.kept.is_current(sweep, || RowFacts::of(row)) {
            let view = self.view(id, facts.clone());
            self.kept.keep(facts, &view, ask);
        }
    }

    /// Its row of the last sweep; none for an instance the stream calls gone (the row is
    /// stale by definition).
    fn row<'a>(&self, sweep: Option<&'a Sweep>, id: u64) -> Option<&'a crate::api::Instance> {
        sweep
            .and_then(|s| s.rows.get(&id))
            .filter(|_| self.status != Some(Status::Gone))
    }

    /// Its view without the spend, which moves with the clock.
    fn view(&self, id: u64, facts: RowFacts) -> InstanceView {
        InstanceView {
            id,
            label: self.label.clone(),
            status: self.status.clone(),
            message: self.message.clone(),
            gpu: facts.gpu,
            dph_total: facts.dph_total,
            spend_usd: None,
            started_at: facts.started_at,
            last_line: self.recent.back().map(|l| l.line.clone()),
            last_line_at: self.last_new_line_at.map(epoch_seconds),
            log_lines: self.log_lines,
            completions: self.completions,
            failures: self.failures,
            failed_actions: self.failed_actions,
            guard: self.guard.clone(),
            actions: self.actions.iter().cloned().collect(),
            error: self.error.clone(),
            ssh: facts.ssh,
        }
    }
}

/// The `by_status` name of an instance no sweep has reported yet.
pub const UNSEEN: &str = "unseen";

/// Counts by status, the running burn and the spend so far.
pub fn totals(instances: &[InstanceView]) -> Totals {
    let mut totals = Totals::default();
    for i in instances {
        totals.add(
            i.status.as_ref(),
            i.dph_total,
            i.spend_usd,
            i.completions,
            i.failures,
        );
    }
    totals
}

impl Totals {
    fn add(
        &mut self,
        status: Option<&Status>,
        dph_total: Option<f64>,
        spend_usd: Option<f64>,
        completions: u32,
        failures: u32,
    ) {
        self.instances += 1;
        let name = status.map_or(UNSEEN, Status::as_str);
        // Looked up before inserting: a name is allocated once per answer, not per instance.
        match self.by_status.get_mut(name) {
            Some(count) => *count += 1,
            None => {
                self.by_status.insert(name.to_owned(), 1);
            }
        }
        if status == Some(&Status::Running) {
            self.dph_running += dph_total.unwrap_or(0.0);
        }
        self.spend_usd += spend_usd.unwrap_or(0.0);
        self.completions += u64::from(completions);
        self.failures += u64::from(failures);
    }
}
