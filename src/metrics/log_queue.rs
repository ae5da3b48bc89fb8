//! The log queue's families (issue 18): how many fetches signals moved forward, and how long a
//! signal waited for the fetch that answered it.

use super::text::{Exposition, Kind};
use crate::monitor::signals::SignalKind;
use crate::schedule::stats::{QueueStats, LATENCY_BUCKETS};

pub(super) fn render(text: &mut Exposition, stats: &QueueStats) {
    let mut family = text.family(
        "vastfleet_log_signals_total",
        Kind::Counter,
        "End-of-job signals the status sweeps showed (GPU gone idle, container exited, ...).",
    );
    family.sample(&[], stats.signals as f64);

    let mut family = text.family(
        "vastfleet_log_priority_fetches_total",
        Kind::Counter,
        "Log fetches moved to the front of the queue by a signal, by the signal's kind.",
    );
    for kind in SignalKind::ALL {
        let count = stats.early_fetches.get(&kind).copied().unwrap_or(0);
        family.sample(&[("signal", kind.as_str())], count as f64);
    }

    let mut family = text.family(
        "vastfleet_log_signal_to_fetch_seconds",
        Kind::Histogram,
        "Time from a signal to the log fetch that answered it.",
    );
    for (bound, count) in LATENCY_BUCKETS.iter().zip(stats.latency_buckets) {
        family.suffixed("_bucket", &[("le", &bound.to_string())], count as f64);
    }
    family.suffixed("_bucket", &[("le", "+Inf")], stats.answered as f64);
    family.suffixed("_sum", &[], stats.latency_sum.as_secs_f64());
    family.suffixed("_count", &[], stats.answered as f64);
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn renders_counters_and_a_cumulative_histogram() {
        let mut stats = QueueStats {
            signals: 3,
            ..QueueStats::default()
        };
        stats.fetched(
            Some(SignalKind::GpuIdle),
            Some((SignalKind::GpuIdle, Duration::ZERO)),
            Duration::from_secs(2),
        );
        stats.fetched(
            None,
            Some((SignalKind::CpuCollapse, Duration::ZERO)),
            Duration::from_secs(40),
        );
        let mut text = Exposition::new();
        render(&mut text, &stats);
        let text = text.finish();
        for line in [
            "vastfleet_log_signals_total 3",
            "vastfleet_log_priority_fetches_total{signal=\"gpu_idle\"} 1",
            "vastfleet_log_priority_fetches_total{signal=\"left_running\"} 0",
            "# TYPE vastfleet_log_signal_to_fetch_seconds histogram",
            "vastfleet_log_signal_to_fetch_seconds_bucket{le=\"1\"} 0",
            "vastfleet_log_signal_to_fetch_seconds_bucket{le=\"2.5\"} 1",
            "vastfleet_log_signal_to_fetch_seconds_bucket{le=\"30\"} 1",
            "vastfleet_log_signal_to_fetch_seconds_bucket{le=\"60\"} 2",
            "vastfleet_log_signal_to_fetch_seconds_bucket{le=\"+Inf\"} 2",
            "vastfleet_log_signal_to_fetch_seconds_sum 42",
            "vastfleet_log_signal_to_fetch_seconds_count 2",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
    }
}
