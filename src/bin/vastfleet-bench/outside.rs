//! Outside-client mode (issue 11): someone else on the same key — the official CLI in a loop, a
//! second tool — spends its list and request_logs budgets for a while, then only request_logs;
//! meanwhile one instance's `max_runtime` guard comes due. The simulator limits per key, so
//! every call the other client gets through is one the watcher's gap makes it wait for or is
//! refused. Measured: the same recovery ratios as the storm mode, and how long the guard's stop
//! took while request_logs was refused (the key paused, even), against the state-change gap.

use std::path::Path;
use std::time::Duration;

use vastfleet::sim::SimStats;
use vastfleet::throttle::Endpoint;

use super::measure::{self, Floor, Window};
use super::storm::{after, fleet, numbered_lines, BEFORE};
use super::watched::{self, Row, Watched};
use super::{Args, SIM_KEY};

const FIRST_ID: u64 = 60_000_001;
/// The other client's user agent: how the benchmark tells its calls from ours.
const AGENT: &str = "outside-client/1";
/// The other client sends a call per endpoint this often while it bursts.
const EVERY: Duration = Duration::from_millis(50);
/// A 429 this long after the other client's last call is still its doing (the longest gap it
/// spends is request_logs' or the list's, 1 s).
const EXPLAINED_AFTER: Duration = Duration::from_secs(2);

/// When the other client does what, on the simulator's clock: list and request_logs in the
/// first half, request_logs only in the second; the guard comes due in the middle of that.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Burst {
    pub from: Duration,
    pub logs_only_from: Duration,
    pub until: Duration,
    pub guard_at: Duration,
}

impl Burst {
    pub fn new(seconds: u64) -> Burst {
        let from = Duration::from_millis(BEFORE.to_ms);
        let span = Duration::from_secs(seconds);
        Burst {
            from,
            logs_only_from: from + span / 2,
            until: from + span,
            guard_at: from + span * 3 / 4,
        }
    }
}

/// The other client: back to back, as fast as `EVERY` allows, whatever it is answered.
fn other_client(url: String, ids: Vec<u64>, burst: Burst, started: std::time::Instant) {
    let Ok(runtime) = tokio::runtime::Runtime::new() else {
        return;
    };
    runtime.block_on(async move {
        let Ok(client) = reqwest::Client::builder().user_agent(AGENT).build() else {
            return;
        };
        tokio::time::sleep(burst.from.saturating_sub(started.elapsed())).await;
        let auth = format!("Bearer {SIM_KEY}");
        for id in ids.iter().cycle() {
            let now = started.elapsed();
            if now >= burst.until {
                break;
            }
            if now < burst.logs_only_from {
                let list = client
                    .get(format!("{url}/api/v1/instances/"))
                    .header("authorization", &auth);
                let _ = list.send().await;
            }
            let logs = client
                .put(format!("{url}/api/v0/instances/request_logs/{id}/"))
                .header("authorization", &auth)
                .json(&serde_json::json!({ "tail": "100" }));
            let _ = logs.send().await;
            tokio::time::sleep(EVERY.saturating_sub(started.elapsed() - now)).await;
        }
    });
}

/// Seconds from the status sweep that showed the guard due (the last list page of ours
/// before the stop) to the first stop the API accepted from us; both on the simulator's clock.
fn stop_latency(stats: &SimStats) -> Option<f64> {
    let stopped = stats
        .requests
        .iter()
        .find(|r| r.endpoint == "set_state" && r.status == 200 && measure::ours(r))?;
    let seen = stats
        .requests
        .iter()
        .filter(|r| r.endpoint == "list" && r.status == 200 && measure::ours(r))
        .filter(|r| r.at_ms <= stopped.at_ms)
        .map(|r| r.at_ms)
        .max()?;
    Some((stopped.at_ms - seen) as f64 / 1000.0)
}

/// Our calls answered 429 while the other client was at it (or just after: its last calls
/// still hold their endpoints' gaps), and at other times.
fn rate_limited(stats: &SimStats, burst: Burst) -> (u64, u64) {
    let explained = Window {
        from_ms: burst.from.as_millis() as u64,
        to_ms: (burst.until + EXPLAINED_AFTER).as_millis() as u64,
    };
    stats
        .requests
        .iter()
        .filter(|r| r.status == 429 && measure::ours(r))
        .fold((0, 0), |(during, other), r| {
            if explained.contains(r.at_ms) {
                (during + 1, other)
            } else {
                (during, other + 1)
            }
        })
}

pub fn run(dir: &Path, args: &Args) -> Result<Row, String> {
    let n = args.storm_n;
    let burst = Burst::new(args.outside_seconds);
    println!(
        "outside client: N = {n}, another client on the same key sends list + request_logs every {} ms from {} s, request_logs only from {} s to {} s; instance {FIRST_ID}'s max_runtime ({} s) comes due then",
        EVERY.as_millis(),
        burst.from.as_secs(),
        burst.logs_only_from.as_secs(),
        burst.until.as_secs(),
        burst.guard_at.as_secs(),
    );
    let mut fleet = fleet(FIRST_ID, n, args.interval);
    let first = format!("[[instance]]\nid = {FIRST_ID}\n");
    fleet = fleet.replacen(
        &first,
        &format!(
            "{first}max_runtime = \"{}s\"\non_guard = \"stop\"\n",
            burst.guard_at.as_secs()
        ),
        1,
    );
    let watched = Watched::start(dir, "outside", &numbered_lines(FIRST_ID, n, args), &fleet)?;
    let (url, started) = (watched.url().to_owned(), watched.started);
    let ids: Vec<u64> = (FIRST_ID..FIRST_ID + n as u64).collect();
    let other = std::thread::spawn(move || other_client(url, ids, burst, started));
    let last_ms = burst.until.as_millis() as u64;
    let window = after(last_ms);
    watched.sleep_until(Duration::from_millis(window.to_ms + 500));
    let _ = other.join();
    let ended = watched.finish()?;
    // The guarded instance is stopped by then: one fewer shares the logs gap.
    let floor = Floor::new(n, n - 1, args.interval as f64);
    let stats = &ended.stats;
    Ok(Row {
        mode: "outside client",
        calls_before: measure::accepted_per_second(stats, BEFORE),
        calls_after: measure::accepted_per_second(stats, window),
        status_p50: measure::p50_max(measure::status_ages_in(stats, window)).0,
        status_floor: floor.status,
        log_p50: measure::p50_max(measure::log_ages_in(stats, window)).0,
        log_floor: floor.logs,
        stop: stop_latency(stats).map(|s| (s, Endpoint::SetState.documented_gap().as_secs_f64())),
        lines: ended.lines,
        rate_limited: rate_limited(stats, burst),
        throttle_lines: watched::throttle_lines(&ended.events).len(),
        back: (
            watched::back_after(&ended.events, last_ms as f64 / 1000.0),
            super::storm::RECOVERED_AFTER.as_secs_f64(),
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_guard_comes_due_while_only_request_logs_is_refused() {
        let burst = Burst::new(40);
        assert_eq!(burst.from, Duration::from_secs(60));
        assert!(burst.logs_only_from < burst.guard_at && burst.guard_at < burst.until);
        assert_eq!(burst.until, Duration::from_secs(100));
    }
}
