//! The one door to the network: a shared `governor` limiter, per-endpoint minimum gaps and a
//! fleet-wide cooldown. Every API call awaits [`Throttle::acquire`] first.
//!
//! A call passes three stages, all on tokio's clock (so tests on paused time are exact):
//! 1. its endpoint's queue (a fair async mutex: callers of one endpoint are served in order),
//!    whose head waits for the endpoint's minimum gap and for any fleet-wide cooldown;
//! 2. the `gate` in front of the overall ceiling, where actions go before reads;
//! 3. the ceiling itself, whose rate the `aimd` tuner lowers after a 429 and restores later.

mod aimd;
mod ceiling;
mod cooldown;
mod gate;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::{sleep_until, Instant};

use aimd::Aimd;
use ceiling::{Ceiling, TokioClock};
use cooldown::Cooldown;
use gate::{Gate, Lane};

use crate::schedule::LogQueue;

/// Which API endpoint a call goes to; each has its own minimum gap between calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Endpoint {
    List,
    ShowOne,
    RequestLogs,
    SetState,
    Destroy,
}

impl Endpoint {
    pub const ALL: [Endpoint; 5] = [
        Endpoint::List,
        Endpoint::ShowOne,
        Endpoint::RequestLogs,
        Endpoint::SetState,
        Endpoint::Destroy,
    ];

    /// The documented per-key threshold (vast-api.md §6); request_logs is undocumented, ~1 s.
    pub fn documented_gap(self) -> Duration {
        match self {
            Endpoint::List => Duration::from_secs(1),
            Endpoint::ShowOne => Duration::from_secs(2),
            Endpoint::RequestLogs => Duration::from_secs(1),
            Endpoint::SetState => Duration::from_secs(1),
            Endpoint::Destroy => Duration::from_secs(3),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Endpoint::List => "list",
            Endpoint::ShowOne => "show",
            Endpoint::RequestLogs => "request_logs",
            Endpoint::SetState => "set_state",
            Endpoint::Destroy => "destroy",
        }
    }

    /// Stop, start and destroy: they end billing, so they never queue behind reads.
    pub fn is_action(self) -> bool {
        matches!(self, Endpoint::SetState | Endpoint::Destroy)
    }

    /// The position in [`Endpoint::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

/// The overall ceiling on calls, on top of the per-endpoint gaps.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    pub per_second: f64,
    pub burst: u32,
}

impl Default for RateLimit {
    fn default() -> Self {
        RateLimit {
            per_second: 2.0,
            burst: 4,
        }
    }
}

/// The lowest ceiling accepted; anything lower (or not a number) is raised to it.
const MIN_RATE: f64 = 0.001;
/// Above this the ceiling is no limit at all (and governor could not represent its period).
const MAX_RATE: f64 = 1e6;
/// Added to every documented gap. The server measures gaps between arrivals, we between
/// departures: a call that waited for a new connection can arrive late and make the next one
/// look early. 50 ms covers that on ordinary networks for a 5% cost at most.
pub const GAP_MARGIN: Duration = Duration::from_millis(50);

/// How a [`Throttle`] behaves.
#[derive(Debug, Clone, PartialEq)]
pub struct ThrottleConfig {
    /// An infinite `per_second` means no overall ceiling.
    pub ceiling: RateLimit,
    /// Minimum gap between two calls to one endpoint, indexed by [`Endpoint::index`].
    pub gaps: [Duration; 5],
    /// Lower the ceiling after 429s and restore it when things are quiet.
    pub adaptive: bool,
}

impl ThrottleConfig {
    /// The documented gaps (plus [`GAP_MARGIN`]), the given ceiling, self-tuning on.
    pub fn new(ceiling: RateLimit) -> Self {
        ThrottleConfig {
            ceiling,
            gaps: Endpoint::ALL.map(|e| e.documented_gap() + GAP_MARGIN),
            adaptive: true,
        }
    }

    pub fn gap(&self, endpoint: Endpoint) -> Duration {
        self.gaps[endpoint.index()]
    }

    pub fn with_gap(mut self, endpoint: Endpoint, gap: Duration) -> Self {
        self.gaps[endpoint.index()] = gap;
        self
    }
}

/// What the throttle is doing now, for `throttle` events and cooldown/recovered lines.
#[derive(Debug, Clone, PartialEq)]
pub struct ThrottleStatus {
    /// The effective overall rate; infinite when there is no ceiling.
    pub per_second: f64,
    /// Every endpoint waits until then.
    pub cooling_until: Option<Instant>,
    pub cooling_reason: Option<String>,
}

/// Counters for metrics.
#[derive(Debug, Clone, PartialEq)]
pub struct ThrottleStats {
    /// Calls let through, per endpoint.
    pub calls: BTreeMap<Endpoint, u64>,
    /// 429s reported by callers.
    pub rate_limited: u64,
    pub per_second: f64,
}

/// Cheap to clone; every clone shares the same limiter.
#[derive(Debug, Clone)]
pub struct Throttle {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    gaps: [Duration; 5],
    /// Each endpoint's queue; the mutex holds the instant its last call was let through.
    lanes: [tokio::sync::Mutex<Option<Instant>>; 5],
    gate: Gate,
    clock: TokioClock,
    burst: u32,
    state: Mutex<State>,
    status: watch::Sender<ThrottleStatus>,
    calls: [AtomicU64; 5],
    rate_limited: AtomicU64,
    /// Who goes next into the `request_logs` lane (issue 18); the lane itself is unchanged.
    logs: LogQueue,
}

#[derive(Debug)]
struct State {
    /// The limiter and the rate it was built for; `None` when there is no ceiling.
    ceiling: Option<(f64, Ceiling)>,
    aimd: Option<Aimd>,
    cooldown: Cooldown,
}

impl Throttle {
    /// The documented gaps under `limit`, self-tuning on.
    pub fn new(limit: RateLimit) -> Self {
        Throttle::with_config(ThrottleConfig::new(limit))
    }

    /// No gaps and no ceiling (a 429 still starts a cooldown): for tests that don't care.
    pub fn unlimited() -> Self {
        Throttle::with_config(ThrottleConfig {
            ceiling: RateLimit {
                per_second: f64::INFINITY,
                burst: 1,
            },
            gaps: [Duration::ZERO; 5],
            adaptive: false,
        })
    }

    pub fn with_config(config: ThrottleConfig) -> Self {
        let clock = TokioClock::new();
        let burst = config.ceiling.burst.max(1);
        let rate = sanitize(config.ceiling.per_second);
        let state = State {
            ceiling: rate.map(|r| (r, Ceiling::new(r, burst, clock, None))),
            aimd: rate.filter(|_| config.adaptive).map(Aimd::new),
            cooldown: Cooldown::default(),
        };
        let (status, _) = watch::channel(state.status());
        Throttle {
            shared: Arc::new(Shared {
                gaps: config.gaps,
                lanes: Default::default(),
                gate: Gate::default(),
                clock,
                burst,
                state: Mutex::new(state),
                status,
                calls: Default::default(),
                rate_limited: AtomicU64::new(0),
                logs: LogQueue::default(),
            }),
        }
    }

    /// Waits until a call to `endpoint` is allowed, then claims it. Callers of one endpoint are
    /// served in the order they called; dropping the future gives up the place cleanly.
    pub async fn acquire(&self, endpoint: Endpoint) {
        let shared = &*self.shared;
        let mut last = shared.lanes[endpoint.index()].lock().await;
        loop {
            let not_before = self.not_before(endpoint, *last);
            if not_before > Instant::now() {
                sleep_until(not_before).await;
                continue;
            }
            if self.pass_ceiling(endpoint).await {
                break;
            }
        }
        *last = Some(Instant::now());
        shared.calls[endpoint.index()].fetch_add(1, Ordering::Relaxed);
    }

    /// [`Throttle::acquire`] for a call about one instance. A `request_logs` call first waits
    /// for its turn in the log queue, which lets one caller at a time into the lane and chooses
    /// who (signals, pace, fairness bound: `schedule`); every other endpoint is first come,
    /// first served.
    pub async fn acquire_for(&self, endpoint: Endpoint, id: u64) {
        if endpoint != Endpoint::RequestLogs {
            return self.acquire(endpoint).await;
        }
        let turn = self.shared.logs.turn(id).await;
        self.acquire(endpoint).await;
        turn.passed();
    }

    /// The log queue, for the monitors' signals and pace.
    pub fn log_queue(&self) -> &LogQueue {
        &self.shared.logs
    }

    /// A call came back 429: every endpoint pauses (see `cooldown.rs`), and a new episode
    /// cuts the self-tuned rate.
    pub fn note_rate_limited(&self, retry_after: Option<Duration>) {
        let shared = &*self.shared;
        shared.rate_limited.fetch_add(1, Ordering::Relaxed);
        let now = Instant::now();
        let mut state = self.state();
        self.refresh(&mut state, now);
        let new_episode = state.cooldown.note_429(now, retry_after);
        let paused_until = state.cooldown.until();
        if let Some(aimd) = &mut state.aimd {
            match (new_episode, paused_until) {
                (true, _) => aimd.cut(now, paused_until),
                (false, Some(until)) => aimd.paused_until(until),
                (false, None) => {}
            }
        }
        self.refresh(&mut state, now);
        self.publish(&state);
        drop(state);
        shared.gate.nudge();
    }

    /// A call succeeded: the next 429 starts the backoff from the beginning again.
    pub fn note_success(&self) {
        let mut state = self.state();
        state.cooldown.note_success();
        self.refresh(&mut state, Instant::now());
    }

    /// The overall rate in force now (infinite without a ceiling).
    pub fn effective_per_second(&self) -> f64 {
        let mut state = self.state();
        self.refresh(&mut state, Instant::now());
        state.rate()
    }

    /// Changes of rate and cooldown, as they happen.
    pub fn subscribe(&self) -> watch::Receiver<ThrottleStatus> {
        self.shared.status.subscribe()
    }

    pub fn stats(&self) -> ThrottleStats {
        let shared = &*self.shared;
        ThrottleStats {
            calls: Endpoint::ALL
                .iter()
                .map(|e| (*e, shared.calls[e.index()].load(Ordering::Relaxed)))
                .collect(),
            rate_limited: shared.rate_limited.load(Ordering::Relaxed),
            per_second: self.effective_per_second(),
        }
    }

    /// The earliest instant the head of `endpoint`'s queue may go: its gap and the cooldown.
    fn not_before(&self, endpoint: Endpoint, last: Option<Instant>) -> Instant {
        let now = Instant::now();
        let mut state = self.state();
        self.refresh(&mut state, now);
        let gap_end = last.map(|t| t + self.shared.gaps[endpoint.index()]);
        [Some(now), gap_end, state.cooldown.until()]
            .into_iter()
            .flatten()
            .max()
            .unwrap_or(now)
    }

    /// Takes one permit of the overall ceiling. `false` when a cooldown began while waiting:
    /// the permit is then forfeited (which only lowers the rate) and the caller starts over.
    async fn pass_ceiling(&self, endpoint: Endpoint) -> bool {
        let shared = &*self.shared;
        if self.state().ceiling.is_none() {
            return true;
        }
        let lane = if endpoint.is_action() {
            Lane::Urgent
        } else {
            Lane::Normal
        };
        shared
            .gate
            .admit(lane, || {
                let mut state = self.state();
                self.refresh(&mut state, Instant::now());
                match &mut state.ceiling {
                    Some((_, ceiling)) => ceiling.try_take(),
                    None => Ok(()),
                }
            })
            .await;
        let now = Instant::now();
        let mut state = self.state();
        self.refresh(&mut state, now);
        state.cooldown.until().is_none()
    }

    /// Brings the state up to `now`: ends a finished cooldown, and rebuilds the limiter when
    /// the tuner's rate moved. Publishes what changed.
    fn refresh(&self, state: &mut State, now: Instant) {
        let shared = &*self.shared;
        let pause_ended = state.cooldown.expire(now);
        let mut changed = pause_ended;
        let wanted = state.aimd.as_ref().map(|a| a.rate_at(now));
        if let Some((rate, ceiling)) = &mut state.ceiling {
            let wanted = wanted.unwrap_or(*rate);
            let moved = (wanted - *rate).abs() > f64::EPSILON * rate.abs().max(1.0);
            // After a pause the callers queued behind it must not leave as one burst either:
            // the API just complained, and its own burst may be smaller than ours. A new rate
            // alone keeps the pace: the next call waits one new period after the last one.
            if moved || pause_ended {
                let used_at = if pause_ended {
                    Some(now)
                } else {
                    ceiling.used_at()
                };
                *ceiling = Ceiling::new(wanted, shared.burst, shared.clock, used_at);
                *rate = wanted;
                changed = true;
                shared.gate.nudge();
            }
        }
        if changed {
            self.publish(state);
        }
    }

    fn publish(&self, state: &State) {
        let next = state.status();
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

    fn status(&self) -> ThrottleStatus {
        ThrottleStatus {
            per_second: self.rate(),
            cooling_until: self.cooldown.until(),
            cooling_reason: self.cooldown.reason().map(str::to_owned),
        }
    }
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
