//! The one door to the network: one shared `governor` ceiling over every call, and one
//! self-tuned budget per endpoint. Every API call awaits [`Throttle::acquire`] first and
//! reports its answer with [`Throttle::note_rate_limited`] or [`Throttle::note_success`].
//!
//! A call passes three stages, all on tokio's clock (so tests on paused time are exact):
//! 1. its endpoint's queue (`queue.rs`), whose head waits for the endpoint's own pace and
//!    pause (`budget.rs`) and, unless it is an action, for a pause of the whole key
//!    (`key.rs`: several endpoints limited at once);
//! 2. the `gate` in front of the overall ceiling, where actions go before reads;
//! 3. the ceiling itself (`ceiling.rs`), whose rate the `aimd` tuner lowers only when a 429
//!    comes while our overall rate is at the ceiling, and restores within two minutes.
//!
//! A 429 therefore slows and pauses the endpoint that got it, and a stop or destroy never
//! waits behind a storm on request_logs (issue 11). Every server-given wait is capped by
//! [`ThrottleConfig::max_retry_after`] here, where every call path passes (issue 17).

mod aimd;
mod budget;
mod ceiling;
mod config;
mod crowding;
mod gate;
mod key;
mod queue;
mod status;

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::{sleep_until, Instant};

use crate::api::ApiError;
use crate::report::message::rate;
use aimd::Aimd;
use budget::{Budget, Noted};
use ceiling::{Ceiling, TokioClock};
pub use config::{Endpoint, RateLimit, ThrottleConfig, DEFAULT_MAX_RETRY_AFTER, GAP_MARGIN};
use crowding::Crowding;
use gate::{Gate, Lane};
use key::Key;
use queue::Queue;
pub use status::{changes, Change, EndpointStatus, Scope, ThrottleStatus};

use crate::schedule::LogQueue;

/// The lowest ceiling accepted; anything lower (or not a number) is raised to it.
const MIN_RATE: f64 = 0.001;
/// Above this the ceiling is no limit at all (and governor could not represent its period).
const MAX_RATE: f64 = 1e6;
/// Our overall rate counts as "at the ceiling" when the calls of this last span reached…
const BUSY_SPAN: Duration = Duration::from_secs(5);
/// …this share of what the ceiling allows in it.
const BUSY_SHARE: f64 = 0.9;

/// Counters for metrics and the summary.
#[derive(Debug, Clone, PartialEq)]
pub struct ThrottleStats {
    /// Calls let through, per endpoint.
    pub calls: BTreeMap<Endpoint, u64>,
    /// 429s reported by callers, per endpoint.
    pub rate_limited: BTreeMap<Endpoint, u64>,
    pub per_second: f64,
}

impl ThrottleStats {
    pub fn total_rate_limited(&self) -> u64 {
        self.rate_limited.values().sum()
    }
}

/// Cheap to clone; every clone shares the same limiter.
#[derive(Debug, Clone)]
pub struct Throttle {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    queues: [Queue; 5],
    gate: Gate,
    clock: TokioClock,
    burst: u32,
    max_retry_after: Duration,
    state: Mutex<State>,
    status: watch::Sender<ThrottleStatus>,
    calls: [AtomicU64; 5],
    rate_limited: [AtomicU64; 5],
    /// Who goes next into the `request_logs` queue (issue 18); the budget then says when.
    logs: LogQueue,
}

#[derive(Debug)]
struct State {
    /// The limiter and the rate it was built for; `None` when there is no ceiling.
    ceiling: Option<(f64, Ceiling)>,
    configured: f64,
    aimd: Option<Aimd>,
    /// 429s before then belong to the ceiling's last cut (calls sent before it took effect).
    aimd_episode_until: Option<Instant>,
    budgets: [Budget; 5],
    /// Why each endpoint is limited, for its status line.
    reasons: [Option<String>; 5],
    key: Key,
    /// When the recent calls went out, to tell whether our overall rate is at the ceiling.
    departures: VecDeque<Instant>,
    /// Per endpoint, the departure of the last call that never reached the server.
    unsent: [Option<Instant>; 5],
    /// Whether 429s keep following our own accepted calls on other endpoints.
    crowding: Crowding,
    /// Per endpoint, the latest instant a call's answer arrived: see [`Throttle::note_answered`].
    answered: [Option<Instant>; 5],
}

impl Throttle {
    /// The documented gaps under `limit`, self-tuning on.
    pub fn new(limit: RateLimit) -> Self {
        Throttle::with_config(ThrottleConfig::new(limit))
    }

    /// No gaps and no ceiling (a 429 still pauses its endpoint): for tests that don't care.
    pub fn unlimited() -> Self {
        Throttle::with_config(ThrottleConfig {
            ceiling: RateLimit {
                per_second: f64::INFINITY,
                burst: 1,
            },
            gaps: [Duration::ZERO; 5],
            adaptive: false,
            max_retry_after: DEFAULT_MAX_RETRY_AFTER,
        })
    }

    pub fn with_config(config: ThrottleConfig) -> Self {
        let clock = TokioClock::new();
        let burst = config.ceiling.burst.max(1);
        let rate = sanitize(config.ceiling.per_second);
        let state = State {
            ceiling: rate.map(|r| (r, Ceiling::new(r, burst, clock, None))),
            configured: rate.unwrap_or(f64::INFINITY),
            aimd: rate.filter(|_| config.adaptive).map(Aimd::new),
            aimd_episode_until: None,
            budgets: config.gaps.map(|gap| Budget::new(gap, config.adaptive)),
            reasons: Default::default(),
            key: Key::default(),
            departures: VecDeque::new(),
            unsent: [None; 5],
            crowding: Crowding::default(),
            answered: [None; 5],
        };
        let (status, _) = watch::channel(state.status(Instant::now()));
        Throttle {
            shared: Arc::new(Shared {
                queues: Default::default(),
                gate: Gate::default(),
                clock,
                burst,
                max_retry_after: config.max_retry_after,
                state: Mutex::new(state),
                status,
                calls: Default::default(),
                rate_limited: Default::default(),
                logs: LogQueue::default(),
            }),
        }
    }

    /// Waits until a call to `endpoint` is allowed, then claims it, and returns when it went
    /// (for [`Throttle::note_unsent`]). Callers of one endpoint are served in the order they
    /// called; dropping the future gives up the place cleanly.
    pub async fn acquire(&self, endpoint: Endpoint) -> Instant {
        let shared = &*self.shared;
        let mut turn = shared.queues[endpoint.index()].turn().await;
        // An action tells the ceiling's gate when it will be due, so its permit is kept.
        let mut notice = None;
        loop {
            let not_before = self.not_before(endpoint, turn.last());
            if endpoint.is_action() && self.state().ceiling.is_some() {
                match notice.as_mut() {
                    None => notice = Some(shared.gate.announce(not_before)),
                    Some(notice) => notice.move_to(not_before),
                }
            }
            if not_before > Instant::now() {
                sleep_until(not_before).await;
                continue;
            }
            if self.pass_ceiling(endpoint).await {
                break;
            }
        }
        drop(notice);
        let now = Instant::now();
        turn.went(now);
        self.state().departed(now);
        shared.calls[endpoint.index()].fetch_add(1, Ordering::Relaxed);
        now
    }

    /// [`Throttle::acquire`] for a call about one instance. A `request_logs` call first waits
    /// for its turn in the log queue, which lets one caller at a time into the endpoint's budget and chooses
    /// who (signals, pace, fairness bound: `schedule`); every other endpoint is first come,
    /// first served.
    pub async fn acquire_for(&self, endpoint: Endpoint, id: u64) -> Instant {
        if endpoint != Endpoint::RequestLogs {
            return self.acquire(endpoint).await;
        }
        let turn = self.shared.logs.turn(id).await;
        let went = self.acquire(endpoint).await;
        turn.passed();
        went
    }

    /// The log queue, for the monitors' signals and pace.
    pub fn log_queue(&self) -> &LogQueue {
        &self.shared.logs
    }

    /// Tells the throttle how a call to `endpoint` was answered, and returns the answer with
    /// the server's wait bounded by `max_retry_after`: what every retry loop then waits.
    pub fn settle<T>(
        &self,
        endpoint: Endpoint,
        outcome: Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        match outcome {
            Ok(value) => {
                self.note_success(endpoint);
                Ok(value)
            }
            Err(ApiError::RateLimited {
                retry_after,
                message,
            }) => Err(ApiError::RateLimited {
                retry_after: self.note_rate_limited(endpoint, retry_after),
                message,
            }),
            Err(error) => Err(error),
        }
    }

    /// A call to `endpoint` came back 429, with the server's `Retry-After` if it sent one.
    /// Returns that wait as honoured: at most `max_retry_after`. The endpoint pauses and a new
    /// episode cuts its pace; several endpoints limited at once pause the key; at the ceiling,
    /// the ceiling's tuner learns from it too.
    pub fn note_rate_limited(
        &self,
        endpoint: Endpoint,
        retry_after: Option<Duration>,
    ) -> Option<Duration> {
        let shared = &*self.shared;
        shared.rate_limited[endpoint.index()].fetch_add(1, Ordering::Relaxed);
        let honoured = retry_after.map(|d| d.min(shared.max_retry_after));
        let now = Instant::now();
        let mut state = self.state();
        self.refresh(&mut state, now);
        let budget = &mut state.budgets[endpoint.index()];
        let noted = budget.note_429(now, honoured);
        let until = budget.paused_until();
        if noted == Noted::NewEpisode || retry_after != honoured {
            state.reasons[endpoint.index()] = Some(self.reason(&state, endpoint, retry_after, now));
        }
        let limited = state.limited_endpoints();
        state.key.note_429(limited, until);
        if let Some(key_until) = state.key.paused_until() {
            // Actions pass a paused key; everything else limited waits for its pause.
            for held in state.key.limited().to_vec() {
                if !held.is_action() {
                    state.budgets[held.index()].held_until(key_until);
                }
            }
        }
        let crowded = state.crowding.note_429(endpoint, now);
        if crowded {
            let sent = state.sent_per_second(now);
            state.tune_ceiling(now, until, Some(sent));
        } else if state.at_ceiling(endpoint, now) {
            state.tune_ceiling(now, until, None);
        }
        self.refresh(&mut state, now);
        self.publish(&state, now);
        drop(state);
        shared.gate.nudge();
        honoured
    }

    /// The call to `endpoint` that went at `went` never reached the server (nothing listening,
    /// a name that does not resolve, a failed TLS handshake): it spent none of the endpoint's
    /// budget, so the next call need not wait its gap. Without this a one-shot command's quick
    /// retries against a wrong URL were spaced by the list gap and took 3.4 s, not 2 (issue 12).
    /// The ceiling's permit stays spent: it bounds our own rate, whatever the server saw.
    pub fn note_unsent(&self, endpoint: Endpoint, went: Instant) {
        self.state().unsent[endpoint.index()] = Some(went);
    }

    /// A call to `endpoint` was answered (any HTTP status): the server saw it by now. The next
    /// call then waits its gap from here too, not only from when this one went. A server that
    /// holds a strict minimum gap measures it between arrivals, and a call can arrive late — a
    /// loaded machine, a new connection — so that the next one, on time by our departures, is
    /// early by its arrivals: the 429s of the "jobs end" benchmark (issue 18). An answer comes
    /// after its call's arrival, so a gap counted from the answer cannot be early, whatever
    /// the delay; it costs nothing while answers come within [`GAP_MARGIN`] of departure.
    pub fn note_answered(&self, endpoint: Endpoint) {
        let now = Instant::now();
        let mut state = self.state();
        let answered = &mut state.answered[endpoint.index()];
        *answered = Some(answered.map_or(now, |t| t.max(now)));
    }

    /// A call to `endpoint` succeeded: its next 429 starts the backoff from the beginning.
    pub fn note_success(&self, endpoint: Endpoint) {
        let mut state = self.state();
        let now = Instant::now();
        state.budgets[endpoint.index()].note_success();
        state.crowding.note_success(endpoint, now);
        self.refresh(&mut state, now);
    }

    /// The overall rate in force now (infinite without a ceiling).
    pub fn effective_per_second(&self) -> f64 {
        let mut state = self.state();
        self.refresh(&mut state, Instant::now());
        state.rate()
    }

    /// The pace `endpoint` is held to now (calls/s; infinite without a gap of its own).
    pub fn pace(&self, endpoint: Endpoint) -> f64 {
        let mut state = self.state();
        let now = Instant::now();
        self.refresh(&mut state, now);
        state.budgets[endpoint.index()]
            .pace_at(now)
            .unwrap_or(f64::INFINITY)
    }

    /// The next instant the throttle's status changes by itself (a pause or an episode ends,
    /// a recovering pace steps up), so a reporter can look then rather than at the next call.
    pub fn next_change(&self) -> Option<Instant> {
        let now = Instant::now();
        let mut state = self.state();
        self.refresh(&mut state, now);
        let budgets = state.budgets.iter().filter_map(|b| b.next_change(now));
        budgets.chain(state.key.paused_until()).min()
    }

    /// The longest server-given wait honoured.
    pub fn max_retry_after(&self) -> Duration {
        self.shared.max_retry_after
    }

    /// Changes of pace and pauses, as they happen.
    pub fn subscribe(&self) -> watch::Receiver<ThrottleStatus> {
        self.shared.status.subscribe()
    }

    pub fn stats(&self) -> ThrottleStats {
        let shared = &*self.shared;
        let count = |counters: &[AtomicU64; 5]| {
            Endpoint::ALL
                .iter()
                .map(|e| (*e, counters[e.index()].load(Ordering::Relaxed)))
                .collect()
        };
        ThrottleStats {
            calls: count(&shared.calls),
            rate_limited: count(&shared.rate_limited),
            per_second: self.effective_per_second(),
        }
    }

    /// The earliest instant the head of `endpoint`'s queue may go: its pace, its pause and,
    /// unless it is an action, the key's pause.
    fn not_before(&self, endpoint: Endpoint, last: Option<Instant>) -> Instant {
        let now = Instant::now();
        let mut state = self.state();
        self.refresh(&mut state, now);
        let sent = last.filter(|t| state.unsent[endpoint.index()] != Some(*t));
        let gap = state.budgets[endpoint.index()].gap_at(now);
        let gap_end = sent.map(|t| t + gap);
        // The margin is for arrivals later than departures; an answer is later than its arrival.
        let answer_end =
            state.answered[endpoint.index()].map(|t| t + gap.saturating_sub(GAP_MARGIN));
        [Some(now), gap_end, answer_end, state.pause_for(endpoint)]
            .into_iter()
            .flatten()
            .max()
            .unwrap_or(now)
    }

    /// Takes one permit of the overall ceiling. `false` when a pause for this endpoint began
    /// while waiting: the permit is then forfeited (which only lowers the rate) and the caller
    /// starts over.
    async fn pass_ceiling(&self, endpoint: Endpoint) -> bool {
        let shared = &*self.shared;
        if self.state().ceiling.is_some() {
            let lane = if endpoint.is_action() {
                Lane::Urgent
            } else {
                Lane::Normal
            };
            let interval = Duration::from_secs_f64(1.0 / self.state().rate());
            shared
                .gate
                .admit(lane, interval, || {
                    let mut state = self.state();
                    self.refresh(&mut state, Instant::now());
                    match &mut state.ceiling {
                        Some((_, ceiling)) => ceiling.try_take(),
                        None => Ok(()),
                    }
                })
                .await;
        }
        let now = Instant::now();
        let mut state = self.state();
        self.refresh(&mut state, now);
        state.pause_for(endpoint).is_none()
    }

    /// Brings the state up to `now`: ends finished pauses and episodes, and rebuilds the
    /// limiter when the tuner's rate moved. Publishes the status if it changed.
    fn refresh(&self, state: &mut State, now: Instant) {
        let shared = &*self.shared;
        // Only pauses of calls the ceiling spaces (or the key's) hold back a burst for it.
        let mut pause_ended = false;
        let rate = state.rate();
        for budget in &mut state.budgets {
            let ended = budget.expire(now);
            pause_ended |= ended && budget.pace_at(now).is_none_or(|p| p >= rate);
        }
        let still = state.limited_endpoints().len();
        let key_paused = state.key.paused_until().is_some();
        state.key.expire(now, still);
        pause_ended |= key_paused && state.key.paused_until().is_none();
        let wanted = state.aimd.as_ref().map(|a| a.rate_at(now));
        if let Some((rate, ceiling)) = &mut state.ceiling {
            let wanted = wanted.unwrap_or(*rate);
            let moved = (wanted - *rate).abs() > f64::EPSILON * rate.abs().max(1.0);
            // After a pause the callers queued behind it must not leave as one burst: the API
            // just complained, and its own burst may be smaller than ours. A new rate alone
            // keeps the pace: the next call waits one new period after the last one.
            if moved || pause_ended {
                let used_at = if pause_ended {
                    Some(now)
                } else {
                    ceiling.used_at()
                };
                *ceiling = Ceiling::new(wanted, shared.burst, shared.clock, used_at);
                *rate = wanted;
                shared.gate.nudge();
            }
        }
        // Every time: the steps of a recovering pace follow from the time alone.
        self.publish(state, now);
    }

    /// The line that says why `endpoint` is limited.
    fn reason(
        &self,
        state: &State,
        endpoint: Endpoint,
        asked: Option<Duration>,
        now: Instant,
    ) -> String {
        let budget = &state.budgets[endpoint.index()];
        let paused = budget
            .paused_until()
            .map_or(Duration::ZERO, |u| u.saturating_duration_since(now));
        let wait = match asked {
            Some(asked) if asked > self.shared.max_retry_after => format!(
                "the API asked to wait {}; waiting {} (max_retry_after)",
                shown(asked),
                shown(paused)
            ),
            Some(_) => format!("the API asked to wait {}", shown(paused)),
            None => format!("pausing it {}", shown(paused)),
        };
        match budget.pace_at(now) {
            Some(pace) => format!("HTTP 429; {wait}, then {} calls/s", rate(pace)),
            None => format!("HTTP 429; {wait}"),
        }
    }

    fn publish(&self, state: &State, now: Instant) {
        let next = state.status(now);
        self.shared.status.send_if_modified(|current| {
            let differs = *current != next;
            if differs {
                *current = next;
            }
            differs
        });
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.shared
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl State {
    fn rate(&self) -> f64 {
        self.ceiling.as_ref().map_or(f64::INFINITY, |(r, _)| *r)
    }

    /// A 429 while our overall rate was at the ceiling: the key's budget is below it. Like TCP,
    /// 429s to calls sent before the last cut took effect (before its pause ended) are that
    /// cut's; a later one means the cut was not enough.
    /// `sent`: our overall rate of late, when our own calls are what fills the key's budget.
    fn tune_ceiling(&mut self, now: Instant, paused_until: Option<Instant>, sent: Option<f64>) {
        let Some(aimd) = &mut self.aimd else {
            return;
        };
        match self.aimd_episode_until {
            Some(episode) if now < episode => aimd.paused_until(paused_until.unwrap_or(now)),
            _ => {
                aimd.cut(now, paused_until, sent);
                self.aimd_episode_until = Some(paused_until.unwrap_or(now));
            }
        }
    }

    /// The pause `endpoint` waits for: its own, and unless it is an action the key's.
    fn pause_for(&self, endpoint: Endpoint) -> Option<Instant> {
        let key = self.key.paused_until().filter(|_| !endpoint.is_action());
        self.budgets[endpoint.index()].paused_until().max(key)
    }

    fn limited_endpoints(&self) -> Vec<Endpoint> {
        Endpoint::ALL
            .into_iter()
            .filter(|e| self.budgets[e.index()].limited())
            .collect()
    }

    fn departed(&mut self, now: Instant) {
        self.departures.push_back(now);
        self.forget_departures(now);
    }

    fn forget_departures(&mut self, now: Instant) {
        while let Some(first) = self.departures.front() {
            if now.saturating_duration_since(*first) <= BUSY_SPAN {
                break;
            }
            self.departures.pop_front();
        }
    }

    /// Our overall rate over the last [`BUSY_SPAN`], refused calls included.
    fn sent_per_second(&mut self, now: Instant) -> f64 {
        self.forget_departures(now);
        self.departures.len() as f64 / BUSY_SPAN.as_secs_f64()
    }

    /// Whether our overall rate is at the ceiling, so that a 429 is about that rate: the
    /// endpoint's own pace is no slower than the ceiling (only the ceiling spaces its calls),
    /// or the recent calls nearly filled it. (That the ceiling made one call wait says little:
    /// two endpoints meeting, or the burst withheld after a pause, do that too.)
    fn at_ceiling(&mut self, endpoint: Endpoint, now: Instant) -> bool {
        self.forget_departures(now);
        let rate = self.rate();
        let allowed = rate * BUSY_SPAN.as_secs_f64();
        let pace = self.budgets[endpoint.index()].pace_at(now);
        allowed.is_finite()
            && (pace.is_none_or(|p| p >= rate)
                || self.departures.len() as f64 >= BUSY_SHARE * allowed)
    }

    fn status(&self, now: Instant) -> ThrottleStatus {
        ThrottleStatus {
            per_second: self.rate(),
            configured: self.configured,
            endpoints: Endpoint::ALL.map(|e| {
                let budget = &self.budgets[e.index()];
                EndpointStatus {
                    pace: budget.pace_at(now).unwrap_or(f64::INFINITY),
                    limited: budget.limited(),
                    paused_until: budget.paused_until(),
                    reason: self.reasons[e.index()].clone().filter(|_| budget.limited()),
                }
            }),
            key_limited: self.key.limited().to_vec(),
            key_paused_until: self.key.paused_until(),
        }
    }
}

/// A wait for a line, to the millisecond.
fn shown(wait: Duration) -> String {
    let millis = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX);
    humantime::format_duration(Duration::from_millis(millis)).to_string()
}

/// A usable ceiling rate, or `None` for "no ceiling".
fn sanitize(per_second: f64) -> Option<f64> {
    if per_second.is_nan() {
        Some(MIN_RATE)
    } else if per_second > MAX_RATE {
        None
    } else {
        Some(per_second.max(MIN_RATE))
    }
}
