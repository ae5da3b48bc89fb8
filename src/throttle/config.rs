//! What the throttle is configured with: the endpoints and their documented gaps, the overall
//! ceiling, and the cap on what a server may make us wait.

use std::time::Duration;

/// Which API endpoint a call goes to; each has its own budget (gap, pace, pauses).
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

    /// Stop, start and destroy: they end billing, so they never queue behind reads and never
    /// wait for another endpoint's pause.
    pub fn is_action(self) -> bool {
        matches!(self, Endpoint::SetState | Endpoint::Destroy)
    }

    /// The position in [`Endpoint::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

/// The overall ceiling on calls, on top of the per-endpoint budgets.
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

/// Added to every documented gap. The server measures gaps between arrivals, we between
/// departures: a call that waited for a new connection can arrive late and make the next one
/// look early. 50 ms covers that on ordinary networks for a 5% cost at most.
pub const GAP_MARGIN: Duration = Duration::from_millis(50);

/// The default of `[api] max_retry_after`: the official client's own limit (vast-api.md §6).
pub const DEFAULT_MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// How a [`super::Throttle`] behaves.
#[derive(Debug, Clone, PartialEq)]
pub struct ThrottleConfig {
    /// An infinite `per_second` means no overall ceiling.
    pub ceiling: RateLimit,
    /// Each endpoint's documented gap, indexed by [`Endpoint::index`]: where its pace starts
    /// and what it returns to.
    pub gaps: [Duration; 5],
    /// Tune the paces and the ceiling after 429s (off: pauses only).
    pub adaptive: bool,
    /// A server's `Retry-After` (header, HTTP date or JSON `retry_after`) is honoured up to
    /// this long; a longer demand waits this long and says so.
    pub max_retry_after: Duration,
}

impl ThrottleConfig {
    /// The documented gaps (plus [`GAP_MARGIN`]), the given ceiling, self-tuning on.
    pub fn new(ceiling: RateLimit) -> Self {
        ThrottleConfig {
            ceiling,
            gaps: Endpoint::ALL.map(|e| e.documented_gap() + GAP_MARGIN),
            adaptive: true,
            max_retry_after: DEFAULT_MAX_RETRY_AFTER,
        }
    }

    pub fn gap(&self, endpoint: Endpoint) -> Duration {
        self.gaps[endpoint.index()]
    }

    pub fn with_gap(mut self, endpoint: Endpoint, gap: Duration) -> Self {
        self.gaps[endpoint.index()] = gap;
        self
    }

    pub fn with_max_retry_after(mut self, cap: Duration) -> Self {
        self.max_retry_after = cap;
        self
    }

    /// The longest one call to `endpoint` may wait for its turn, however hard the API pushes
    /// back: a pause (the server's `Retry-After` up to `max_retry_after`, or our own backoff's
    /// cap), once more if a 429 elsewhere extends it while the call waits, then the endpoint's
    /// slowest pace, then a permit of the ceiling at its slowest behind every other endpoint.
    /// The watchdog's rule is built on it (`service::Liveness`): a call waiting longer than
    /// this is not being throttled, it is stuck.
    pub fn longest_wait(&self, endpoint: Endpoint) -> Duration {
        let pause = self.max_retry_after.max(super::budget::BACKOFF.cap);
        let pace = self.gap(endpoint).div_f64(super::budget::FLOOR_SHARE);
        let slowest_rate = self.ceiling.per_second.min(super::aimd::FLOOR);
        let permit = Duration::try_from_secs_f64(slowest_rate.recip()).unwrap_or(Duration::MAX);
        let others = u32::try_from(Endpoint::ALL.len()).unwrap_or(u32::MAX);
        pause
            .saturating_mul(2)
            .saturating_add(pace)
            .saturating_add(permit.saturating_mul(others))
    }
}
