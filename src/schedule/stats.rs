//! What the log queue did, for metrics: early fetches, and the time from a signal to the fetch
//! that answered it (a histogram, in the buckets Prometheus renders).

use std::collections::BTreeMap;
use std::time::Duration;

use crate::monitor::signals::SignalKind;

/// Upper bounds (seconds) of the signal-to-fetch histogram: from one call gap to a large
/// fleet's whole round-robin turn.
pub const LATENCY_BUCKETS: [f64; 10] =
    [1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0, 1800.0];

#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueueStats {
    /// Signals the sweeps reported (before the once-per-episode rule).
    pub signals: u64,
    /// Fetches moved forward by a signal, by the signal's kind.
    pub early_fetches: BTreeMap<SignalKind, u64>,
    /// Signals answered by a fetch (early or in its turn): the histogram's count and sum.
    pub answered: u64,
    pub latency_sum: Duration,
    pub latency_max: Duration,
    /// Cumulative counts per [`LATENCY_BUCKETS`] bound.
    pub latency_buckets: [u64; LATENCY_BUCKETS.len()],
}

impl QueueStats {
    pub(crate) fn fetched(
        &mut self,
        early: Option<SignalKind>,
        answers: Option<(SignalKind, Duration)>,
        now: Duration,
    ) {
        if let Some(kind) = early {
            *self.early_fetches.entry(kind).or_default() += 1;
        }
        let Some((_, since)) = answers else { return };
        let latency = now.saturating_sub(since);
        self.answered += 1;
        self.latency_sum += latency;
        self.latency_max = self.latency_max.max(latency);
        let secs = latency.as_secs_f64();
        for (count, bound) in self.latency_buckets.iter_mut().zip(LATENCY_BUCKETS) {
            if secs <= bound {
                *count += 1;
            }
        }
    }

    pub fn early_total(&self) -> u64 {
        self.early_fetches.values().sum()
    }
}
