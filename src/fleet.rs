//! The fleet supervisor: one monitor task per instance, keyed by id with its own cancel token
//! (so removing one touches nothing else), the status feed, live reload by diffing id sets,
//! and an orderly shutdown that collects every monitor's summary.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::api::{sanity, Api};
use crate::config::settings::Budget;
use crate::config::{InstanceSettings, Policy, Settings};
use crate::cost::{BudgetWatch, Totals};
use crate::feed::{self, Cadence, PageRows, Sweep, SweepSlot};
use crate::monitor::machine::{MachineOptions, MonitorMachine};
use crate::monitor::task::{self, MonitorIo};
use crate::report::event::{Event, EventKind, InstanceSummary, Source};
use crate::schedule::LogQueue;
use crate::service;
use crate::state::StateHandle;
use crate::status::Status;

/// How long shutdown waits for monitors to hand back their state before giving up on them.
const SHUTDOWN_GRACE: Duration = Duration::from_millis(500);

/// What the session hands the fleet, shared by the supervisor and every monitor (in
/// [`Shared`]): a new thing every monitor needs is added here, once.
pub struct FleetContext<A> {
    pub api: Arc<A>,
    pub events: mpsc::Sender<Event>,
    pub state: StateHandle,
    pub options: MachineOptions,
    /// The throttle's log queue (`Throttle::log_queue`).
    pub logs: LogQueue,
    /// The session's tasks: the feed and every monitor are spawned on it, so one that outlives
    /// its shutdown grace is still waited for (bounded) at the session's end.
    pub tasks: TaskTracker,
    /// The service manager: told when the first monitors run, and the feed's watchdog.
    pub service: service::Handle,
}

/// One per session, behind an `Arc`: the session's context and what the supervisor derives
/// from it for every monitor (the clock's origin, the status channels).
pub struct Shared<A> {
    pub ctx: FleetContext<A>,
    /// The monotonic origin every `Now::mono` is measured from.
    pub origin: Instant,
    /// The status sweeps, each monitor reading them through its own clone of this receiver,
    /// and where each monitor subscribes to its row of the pages of the sweep under way.
    pub sweeps: watch::Receiver<SweepSlot>,
    pub pages: PageRows,
}

struct MonitorHandle {
    settings: InstanceSettings,
    policy: watch::Sender<Policy>,
    cancel: CancellationToken,
    join: JoinHandle<MonitorMachine>,
}

/// Runs the fleet until `cancel`, following every new `Settings` sent on `settings`, and
/// returns each instance's summary for the shutdown report. The sweeps go to `sweeps` when
/// someone else reads them too (the live view); else the supervisor makes its own channel.
pub async fn supervise<A: Api>(
    ctx: FleetContext<A>,
    sweeps: Option<watch::Sender<SweepSlot>>,
    mut settings: watch::Receiver<Arc<Settings>>,
    cancel: CancellationToken,
) -> Vec<InstanceSummary> {
    let origin = Instant::now();
    let current = settings.borrow_and_update().clone();
    let (cadence_tx, cadence_rx) = watch::channel(cadence_of(&current));
    let (sweeps_tx, sweeps_rx) = match sweeps {
        Some(tx) => {
            let rx = tx.subscribe();
            (tx, rx)
        }
        None => watch::channel::<SweepSlot>(None),
    };
    let pages = PageRows::default();
    let feed_cancel = cancel.child_token();
    let feed = ctx.tasks.spawn(feed::run(
        Arc::clone(&ctx.api),
        cadence_rx,
        feed::Outlets {
            sweeps: sweeps_tx,
            pages: pages.clone(),
        },
        ctx.events.clone(),
        ctx.service.clone(),
        feed_cancel.clone(),
    ));

    let mut discovery = sweeps_rx.clone();
    let budget = BudgetWatch::resume(ctx.state.budget_over());
    let mut fleet = Supervisor {
        shared: Arc::new(Shared {
            ctx,
            origin,
            sweeps: sweeps_rx,
            pages,
        }),
        monitors: BTreeMap::new(),
        cancel: cancel.clone(),
        settings: Arc::clone(&current),
        discovered: BTreeMap::new(),
        orphans: None,
        budget,
    };
    for instance in &current.instances {
        fleet.spawn(instance.clone(), None).await;
    }
    // Every start-up check is behind us (a bad fleet file exits 2 without it).
    fleet.ctx().service.ready();

    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            changed = settings.changed() => {
                if changed.is_err() {
                    // The reload source went away; keep watching what we have.
                    cancel.cancelled().await;
                    break;
                }
                let next = settings.borrow_and_update().clone();
                cadence_tx.send_if_modified(|c| replace(c, cadence_of(&next)));
                fleet.settings = next;
                fleet.rediscover();
                fleet.apply(true).await;
            }
            changed = discovery.changed() => {
                if changed.is_err() {
                    cancel.cancelled().await;
                    break;
                }
                let sweep = discovery.borrow_and_update().clone();
                if let Some(sweep) = sweep {
                    fleet.account_seen(&sweep).await;
                }
            }
        }
    }

    feed_cancel.cancel();
    let _ = feed.await;
    fleet.shutdown().await
}

struct Supervisor<A> {
    shared: Arc<Shared<A>>,
    monitors: BTreeMap<u64, MonitorHandle>,
    cancel: CancellationToken,
    settings: Arc<Settings>,
    /// Account instances watched through `[discover]`, with their Vast label. Sticky for the
    /// session: a discovered instance that is destroyed is still watched, like a listed one.
    discovered: BTreeMap<u64, Option<String>>,
    /// The unlisted account instances last reported, without `[discover]`.
    orphans: Option<Vec<u64>>,
    /// `[budget]` episodes under way.
    budget: BudgetWatch,
}

impl<A: Api> Supervisor<A> {
    fn ctx(&self) -> &FleetContext<A> {
        &self.shared.ctx
    }

    /// Starts watching one instance; `resume_from` carries a live monitor's state across a
    /// restart of its task (a label change), so history is not printed twice.
    async fn spawn(&mut self, settings: InstanceSettings, resume_from: Option<MonitorMachine>) {
        let source = Source {
            id: settings.id,
            label: settings.display_label().into(),
        };
        let saved = match resume_from {
            Some(machine) => Some(machine.durable()),
            None => self.ctx().state.load(settings.id),
        };
        let machine = match saved {
            Some(state) => MonitorMachine::resume(
                source.clone(),
                settings.policy.clone(),
                self.ctx().options,
                state,
            ),
            None => {
                MonitorMachine::new(source.clone(), settings.policy.clone(), self.ctx().options)
            }
        };
        let _ = self
            .ctx()
            .events
            .send(Event::now(EventKind::Joined { source }))
            .await;
        let (policy_tx, policy_rx) = watch::channel(settings.policy.clone());
        let cancel = self.cancel.child_token();
        let io = MonitorIo::new(
            Arc::clone(&self.shared),
            settings.id,
            policy_rx,
            cancel.clone(),
        );
        let join = self.ctx().tasks.spawn(task::run(machine, io));
        self.monitors.insert(
            settings.id,
            MonitorHandle {
                settings,
                policy: policy_tx,
                cancel,
                join,
            },
        );
    }

    /// Follows the account: new instances matching `[discover]` join the fleet; without it,
    /// unlisted instances are reported whenever that set changes (they keep billing too).
    async fn account_seen(&mut self, sweep: &Sweep) {
        self.check_budget(sweep).await;
        let running = self
            .monitors
            .keys()
            .filter(|id| Status::of(sweep.rows.get(id)) == Status::Running)
            .count();
        self.ctx().logs.set_share(running);
        let listed = self.listed();
        match &self.settings.discover {
            Some(discover) => {
                let before = self.discovered.len();
                for (id, row) in &sweep.rows {
                    let label = row.label.as_deref();
                    if !listed.contains(id)
                        && discover.matches(label)
                        && self.settings.admits(label, *id)
                    {
                        self.discovered
                            .entry(*id)
                            .or_insert_with(|| row.label.clone());
                    }
                }
                if self.discovered.len() != before {
                    self.apply(false).await;
                }
            }
            None => {
                let mut unlisted: Vec<u64> = sweep
                    .rows
                    .keys()
                    .filter(|id| !listed.contains(id))
                    .copied()
                    .collect();
                unlisted.sort_unstable();
                let first_and_empty = self.orphans.is_none() && unlisted.is_empty();
                if self.orphans.as_ref() != Some(&unlisted) && !first_and_empty {
                    self.orphans = Some(unlisted.clone());
                    let kind = EventKind::Orphans { ids: unlisted };
                    let _ = self.ctx().events.send(Event::now(kind)).await;
                } else if first_and_empty {
                    self.orphans = Some(unlisted);
                }
            }
        }
    }

    /// The watched instances' totals against `[budget]`: no extra call, the sweep has them.
    async fn check_budget(&mut self, sweep: &Sweep) {
        let budget = self.settings.budget;
        if budget == Budget::default() {
            // No limits, no episodes: one added later starts afresh.
            self.budget = BudgetWatch::default();
            self.ctx().state.save_budget_over(self.budget.over());
            return;
        }
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        let mut totals = Totals::default();
        for id in self.monitors.keys() {
            // The monitors say which fields were impossible; the budget only leaves them out.
            let row = sweep
                .rows
                .get(id)
                .map(|row| sanity::without_impossible(row.clone(), wall).0);
            totals.add(
                &Status::of(row.as_ref()),
                row.as_ref().and_then(|r| r.dph_total),
                row.as_ref().and_then(|r| r.spend_usd(wall)),
            );
        }
        let alerts = self.budget.check(&budget, &totals);
        self.ctx().state.save_budget_over(self.budget.over());
        if !alerts.is_empty() {
            // Write-ahead, like an action: a restart right after the alert must know it was sent.
            self.ctx().state.flush().await;
        }
        for kind in alerts {
            let _ = self.ctx().events.send(Event::now(kind)).await;
        }
    }

    /// The fleet file's instances, watched or left out by `--only`.
    fn listed(&self) -> BTreeSet<u64> {
        let watched = self.settings.instances.iter().map(|i| i.id);
        watched
            .chain(self.settings.left_out.iter().copied())
            .collect()
    }

    /// After a reload, discovered instances that are now listed (or no longer match) go back
    /// to being governed by the file.
    fn rediscover(&mut self) {
        let listed = self.listed();
        match &self.settings.discover {
            Some(discover) => self.discovered.retain(|id, label| {
                !listed.contains(id)
                    && discover.matches(label.as_deref())
                    && self.settings.admits(label.as_deref(), *id)
            }),
            None => self.discovered.clear(),
        }
        self.orphans = None;
    }

    /// The fleet as it should be now: the listed instances, then the discovered ones with the
    /// defaults (a listed entry always wins).
    fn wanted(&self) -> Vec<InstanceSettings> {
        let mut wanted = self.settings.instances.clone();
        wanted.extend(self.discovered.iter().map(|(id, label)| InstanceSettings {
            id: *id,
            label: label.clone(),
            policy: self.settings.defaults.clone(),
        }));
        wanted
    }

    /// Starts, stops and updates monitors to match [`Self::wanted`]; `announce` reports the
    /// change as a reload (discovery is announced by the monitors joining).
    async fn apply(&mut self, announce: bool) {
        let next = self.wanted();
        let wanted: BTreeMap<u64, &InstanceSettings> = next.iter().map(|i| (i.id, i)).collect();
        let have: BTreeSet<u64> = self.monitors.keys().copied().collect();
        let removed: Vec<u64> = have
            .iter()
            .filter(|id| !wanted.contains_key(id))
            .copied()
            .collect();
        let added: Vec<u64> = wanted
            .keys()
            .filter(|id| !have.contains(id))
            .copied()
            .collect();
        let mut changed = Vec::new();

        for id in &removed {
            if let Some(handle) = self.monitors.remove(id) {
                let machine = stop(handle).await;
                self.ctx().state.forget(*id);
                self.ctx().logs.forget(*id);
                let source = machine.map(|m| m.summary().source).unwrap_or(Source {
                    id: *id,
                    label: id.to_string().into(),
                });
                let _ = self
                    .ctx()
                    .events
                    .send(Event::now(EventKind::Left { source }))
                    .await;
            }
        }
        for (id, instance) in &wanted {
            let Some(handle) = self.monitors.get(id) else {
                continue;
            };
            if handle.settings == **instance {
                continue;
            }
            changed.push(*id);
            if handle.settings.label != instance.label {
                // The label is the machine's identity in the stream: restart its task, keeping
                // its state.
                if let Some(handle) = self.monitors.remove(id) {
                    let machine = stop(handle).await;
                    self.spawn((*instance).clone(), machine).await;
                }
            } else if let Some(handle) = self.monitors.get_mut(id) {
                handle.settings = (*instance).clone();
                handle.policy.send_replace(instance.policy.clone());
            }
        }
        for id in &added {
            if let Some(instance) = wanted.get(id) {
                self.spawn((*instance).clone(), None).await;
            }
        }
        if announce && !(added.is_empty() && removed.is_empty() && changed.is_empty()) {
            let kind = EventKind::Reload {
                added,
                removed,
                changed,
            };
            let _ = self.ctx().events.send(Event::now(kind)).await;
        }
    }

    async fn shutdown(self) -> Vec<InstanceSummary> {
        for handle in self.monitors.values() {
            handle.cancel.cancel();
        }
        // One deadline for the whole fleet, so a thousand monitors still stop within it.
        let deadline = Instant::now() + SHUTDOWN_GRACE;
        let ctx = &self.shared.ctx;
        let mut summaries = Vec::with_capacity(self.monitors.len());
        for (id, handle) in self.monitors {
            let label = handle.settings.display_label();
            match tokio::time::timeout_at(deadline, handle.join).await {
                Ok(Ok(machine)) => {
                    ctx.state.save(id, machine.durable()).await;
                    summaries.push(machine.summary());
                }
                _ => summaries.push(InstanceSummary {
                    source: Source {
                        id,
                        label: label.into(),
                    },
                    status: None,
                    completions: 0,
                    failures: 0,
                    actions: Vec::new(),
                    dph_total: None,
                    spend_usd: None,
                }),
            }
        }
        ctx.state.flush().await;
        summaries
    }
}

async fn stop(handle: MonitorHandle) -> Option<MonitorMachine> {
    handle.cancel.cancel();
    tokio::time::timeout(SHUTDOWN_GRACE, handle.join)
        .await
        .ok()
        .and_then(Result::ok)
}

pub(crate) fn cadence_of(settings: &Settings) -> Cadence {
    let policies = settings
        .instances
        .iter()
        .map(|i| &i.policy)
        .chain(std::iter::once(&settings.defaults));
    Cadence {
        interval: policies
            .clone()
            .map(|p| p.interval)
            .min()
            .unwrap_or(Duration::from_secs(5)),
        max_backoff: policies
            .map(|p| p.max_backoff)
            .max()
            .unwrap_or(Duration::from_secs(60)),
    }
}

fn replace(slot: &mut Cadence, next: Cadence) -> bool {
    let changed = *slot != next;
    *slot = next;
    changed
}
