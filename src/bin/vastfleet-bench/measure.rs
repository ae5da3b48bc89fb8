//! The figures of one run, computed from what the simulator saw (its request log) and what the
//! watcher printed (its `--json` stream). Pure, so the arithmetic is unit-tested.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use vastfleet::sim::{RequestRecord, SimStats};

/// One side's result (vastfleet, or the baseline).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Figures {
    /// Seconds between two successful status refreshes of an instance: (p50, max).
    pub status_age: (f64, f64),
    /// Seconds between two successful log fetches of a running instance: (p50, max).
    pub log_age: (f64, f64),
    /// Seconds from a completion event to the action call reaching the API, worst case.
    pub action_latency: Option<f64>,
    pub calls_per_instance_minute: f64,
    /// Only the calls that fetch status (list pages, or show-one).
    pub status_calls_per_instance_minute: f64,
    pub answered_429: u64,
    pub lines: LineAccount,
    pub peak_rss_mb: f64,
    pub cpu_seconds_per_minute: f64,
}

/// The API's own best case for N instances of which R run, at `interval` (vast-api.md §6).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Floor {
    pub status: f64,
    pub logs: f64,
    pub action: f64,
}

impl Floor {
    pub fn new(n: usize, running: usize, interval: f64) -> Floor {
        Floor {
            status: interval.max(n.div_ceil(25) as f64),
            logs: interval.max(running as f64),
            action: 1.0,
        }
    }
}

/// p50 and max of `values` (0 when empty).
pub fn p50_max(mut values: Vec<f64>) -> (f64, f64) {
    if values.is_empty() {
        return (0.0, 0.0);
    }
    values.sort_by(f64::total_cmp);
    (values[values.len() / 2], values[values.len() - 1])
}

/// Ages are measured from this far into the run: by then the completing instances have
/// stopped, so the fleet is in the steady state the floor describes.
const SETTLE_MS: u64 = 40_000;

/// A span of the simulator's clock (milliseconds since it started), `from` included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub from_ms: u64,
    pub to_ms: u64,
}

impl Window {
    /// From the settled state to the last request the simulator saw.
    pub fn settled(stats: &SimStats) -> Window {
        let end = stats.requests.iter().map(|r| r.at_ms).max().unwrap_or(0);
        Window {
            from_ms: SETTLE_MS,
            to_ms: end,
        }
    }

    pub fn contains(&self, at_ms: u64) -> bool {
        (self.from_ms..self.to_ms).contains(&at_ms)
    }

    pub fn seconds(&self) -> f64 {
        self.to_ms.saturating_sub(self.from_ms) as f64 / 1000.0
    }
}

/// The user agent of vastfleet's own client (the benchmark's baseline uses it too); another
/// client on the same key, as the outside-client mode runs one, does not.
pub fn ours(request: &RequestRecord) -> bool {
    request
        .headers
        .iter()
        .any(|(name, value)| name == "user-agent" && value.starts_with("vastfleet/"))
}

/// The instance a request was about, from its path (`/api/v0/instances/…/{id}/`).
fn instance_of(path: &str) -> Option<u64> {
    path.trim_end_matches('/').rsplit('/').next()?.parse().ok()
}

/// Gaps between consecutive successful calls of ours to `endpoint` in `window`, per instance.
/// A wait since the last success (to the end of the window) that is longer than any gap counts
/// too, so an instance that is starved shows up as a long age, not as a missing sample.
fn ages_per_instance(stats: &SimStats, endpoint: &str, window: Window) -> Vec<f64> {
    let mut times: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    for request in stats.requests.iter().filter(|r| window.contains(r.at_ms)) {
        if request.endpoint == endpoint && request.status == 200 && ours(request) {
            if let Some(id) = instance_of(&request.path) {
                times.entry(id).or_default().push(request.at_ms);
            }
        }
    }
    let mut ages = Vec::new();
    for (id, t) in &times {
        // An instance vastfleet stopped or destroyed is not waiting for anything.
        let acted_on = stats
            .instances
            .get(id)
            .is_some_and(|a| a.state_changes > 0 || a.destroys > 0);
        if acted_on {
            continue;
        }
        let gaps: Vec<f64> = t
            .windows(2)
            .map(|w| (w[1] - w[0]) as f64 / 1000.0)
            .collect();
        let longest = gaps.iter().copied().fold(0.0, f64::max);
        let waiting = t
            .last()
            .map_or(0, |last| window.to_ms.saturating_sub(*last)) as f64
            / 1000.0;
        ages.extend(gaps);
        if waiting > longest {
            ages.push(waiting);
        }
    }
    ages
}

/// Gaps between the starts of consecutive complete sweeps of the paged list: every instance's
/// status is refreshed once per sweep.
fn sweep_ages(stats: &SimStats, window: Window) -> Vec<f64> {
    let starts: Vec<u64> = stats
        .requests
        .iter()
        .filter(|r| window.contains(r.at_ms) && ours(r))
        .filter(|r| r.endpoint == "list" && r.status == 200 && !r.query.contains("after_token"))
        .map(|r| r.at_ms)
        .collect();
    starts
        .windows(2)
        .map(|w| (w[1] - w[0]) as f64 / 1000.0)
        .collect()
}

/// Status ages since the fleet settled: from list sweeps (vastfleet) or show-one calls (the
/// baseline).
pub fn status_ages(stats: &SimStats) -> Vec<f64> {
    status_ages_in(stats, Window::settled(stats))
}

pub fn status_ages_in(stats: &SimStats, window: Window) -> Vec<f64> {
    let mut ages = sweep_ages(stats, window);
    ages.extend(ages_per_instance(stats, "show", window));
    ages
}

pub fn log_ages(stats: &SimStats) -> Vec<f64> {
    log_ages_in(stats, Window::settled(stats))
}

pub fn log_ages_in(stats: &SimStats, window: Window) -> Vec<f64> {
    ages_per_instance(stats, "request_logs", window)
}

/// Our calls to the rate-limited API (not the log downloads) that were accepted in `window`,
/// per second.
pub fn accepted_per_second(stats: &SimStats, window: Window) -> f64 {
    let accepted = stats
        .requests
        .iter()
        .filter(|r| window.contains(r.at_ms) && ours(r))
        .filter(|r| r.endpoint != "log_result" && r.status == 200)
        .count();
    accepted as f64 / window.seconds().max(f64::MIN_POSITIVE)
}

/// What the watcher's stream did with the instances' numbered lines.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LineAccount {
    /// Missing without a word.
    pub lost: u64,
    pub duplicated: u64,
    /// Gap markers, and the lines missing behind them (announced, but missing all the same).
    pub gaps: u64,
    pub missed_at_gaps: u64,
}

/// Accounts the stream's log lines by their per-instance sequence number (`… line {n}`).
pub fn line_accounting(events: &[Value]) -> LineAccount {
    let mut accountant = Accountant::default();
    events.iter().for_each(|event| accountant.feed(event));
    accountant.account
}

/// [`line_accounting`] one event at a time, for streams too long to keep.
#[derive(Debug, Default)]
pub struct Accountant {
    last: BTreeMap<u64, u64>,
    after_gap: BTreeSet<u64>,
    pub account: LineAccount,
}

impl Accountant {
    pub fn feed(&mut self, event: &Value) {
        let Some(id) = event["instance"].as_u64() else {
            return;
        };
        match event["event"].as_str() {
            Some("gap") => {
                self.account.gaps += 1;
                self.after_gap.insert(id);
            }
            Some("log") => {
                let Some(n) = event["line"]
                    .as_str()
                    .and_then(|l| l.rsplit(' ').next())
                    .and_then(|n| n.parse::<u64>().ok())
                else {
                    return;
                };
                if let Some(&previous) = self.last.get(&id) {
                    if n <= previous {
                        self.account.duplicated += 1;
                        return;
                    }
                    let missing = n - previous - 1;
                    if self.after_gap.remove(&id) {
                        self.account.missed_at_gaps += missing;
                    } else {
                        self.account.lost += missing;
                    }
                }
                self.last.insert(id, n);
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_floor_is_the_api_gaps() {
        let floor = Floor::new(1000, 1000, 5.0);
        assert_eq!((floor.status, floor.logs), (40.0, 1000.0));
        let floor = Floor::new(10, 8, 5.0);
        assert_eq!((floor.status, floor.logs), (5.0, 8.0));
    }

    #[test]
    fn lines_are_accounted_by_their_sequence_numbers() {
        let log = |id: u64, n: u64| json!({"event": "log", "instance": id, "line": format!("instance {id} line {n}")});
        let events = vec![
            log(1, 1),
            log(1, 2),
            log(1, 2),
            log(1, 5),
            json!({"event": "gap", "instance": 1}),
            log(1, 90),
            log(2, 7),
            log(2, 8),
        ];
        let expected = LineAccount {
            lost: 2,
            duplicated: 1,
            gaps: 1,
            missed_at_gaps: 84,
        };
        assert_eq!(line_accounting(&events), expected);
    }

    #[test]
    fn percentiles() {
        assert_eq!(p50_max(vec![3.0, 1.0, 2.0]), (2.0, 3.0));
        assert_eq!(p50_max(Vec::new()), (0.0, 0.0));
    }

    #[test]
    fn request_paths_name_their_instance() {
        assert_eq!(instance_of("/api/v0/instances/request_logs/42/"), Some(42));
        assert_eq!(instance_of("/api/v0/instances/7"), Some(7));
        assert_eq!(instance_of("/api/v1/instances/"), None);
    }
}
