//! One watcher against its own simulator, for the modes that disturb the API on a schedule
//! (storm, outside client): started together, so the simulator's clock — the one its fault
//! windows and request log use — is the timeline of the run, and the watcher's `--json` stream
//! is timed on it too. Also the row those modes print.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;
use vastfleet::sim::SimStats;

use super::measure::{Accountant, LineAccount};
use super::{sim_stats, spawn_sim, watcher, Sim};

/// An event of the watcher's stream (not a log line: those are only counted), with the
/// second of the simulator's clock it was read at.
pub type Timed = (f64, Value);

pub struct Watched {
    sim: Sim,
    /// When the simulator said it listens: its clock's zero, to a few milliseconds.
    pub started: Instant,
    child: Child,
    reader: JoinHandle<()>,
    lines: Arc<Mutex<Accountant>>,
    events: Arc<Mutex<Vec<Timed>>>,
}

/// What the run left: the simulator's view, the watcher's other events, its line account.
pub struct Ended {
    pub stats: SimStats,
    pub events: Vec<Timed>,
    pub lines: LineAccount,
}

impl Watched {
    /// Writes `scenario` and `fleet` under `dir` as `name`, starts the simulator and then the
    /// watcher.
    pub fn start(dir: &Path, name: &str, scenario: &str, fleet: &str) -> Result<Watched, String> {
        let scenario_path = dir.join(format!("{name}.scenario.toml"));
        std::fs::write(&scenario_path, scenario).map_err(|e| e.to_string())?;
        let fleet_path = dir.join(format!("{name}.toml"));
        std::fs::write(&fleet_path, fleet).map_err(|e| e.to_string())?;
        let sim = spawn_sim(&scenario_path)?;
        let started = Instant::now();
        let mut child = watcher(&fleet_path, &sim, dir, Stdio::piped())?;
        let stdout = child.stdout.take().ok_or("no watcher stdout")?;
        let lines: Arc<Mutex<Accountant>> = Arc::default();
        let events: Arc<Mutex<Vec<Timed>>> = Arc::default();
        let (line_sink, event_sink) = (Arc::clone(&lines), Arc::clone(&events));
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let Ok(value) = serde_json::from_str::<Value>(&line) else {
                    continue;
                };
                let at = started.elapsed().as_secs_f64();
                if let Ok(mut accountant) = line_sink.lock() {
                    accountant.feed(&value);
                }
                if value["event"] != "log" {
                    event_sink.lock().map(|mut e| e.push((at, value))).ok();
                }
            }
        });
        Ok(Watched {
            sim,
            started,
            child,
            reader,
            lines,
            events,
        })
    }

    pub fn url(&self) -> &str {
        &self.sim.url
    }

    /// Sleeps until `at` on the simulator's clock.
    pub fn sleep_until(&self, at: Duration) {
        std::thread::sleep(at.saturating_sub(self.started.elapsed()));
    }

    /// Stops the watcher (SIGTERM, as a user would) and collects the run.
    pub fn finish(mut self) -> Result<Ended, String> {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
        let _ = self.reader.join();
        let stats = sim_stats(&self.sim)?;
        let events = self.events.lock().map(|e| e.clone()).unwrap_or_default();
        let lines = self.lines.lock().map(|a| a.account).unwrap_or_default();
        Ok(Ended {
            stats,
            events,
            lines,
        })
    }
}

/// The `throttle` events a human sees (`limited` and `back`, not the steps).
pub fn throttle_lines(events: &[Timed]) -> Vec<&Timed> {
    events
        .iter()
        .filter(|(_, e)| e["event"] == "throttle" && e["change"] != "step")
        .collect()
}

/// Seconds from `after` to the last `back` line, `None` when something was still limited at
/// the end (a `limited` line with no `back` after it).
pub fn back_after(events: &[Timed], after: f64) -> Option<f64> {
    let said = throttle_lines(events);
    let mut open = std::collections::BTreeMap::new();
    for (_, e) in &said {
        let what = (e["scope"].to_string(), e["endpoint"].to_string());
        open.insert(what, e["change"] == "limited");
    }
    if open.values().any(|limited| *limited) {
        return None;
    }
    let last_back = said
        .iter()
        .filter(|(_, e)| e["change"] == "back")
        .map(|(at, _)| *at)
        .fold(after, f64::max);
    Some(last_back - after)
}

/// One row of the disturbance table.
pub struct Row {
    pub mode: &'static str,
    pub calls_before: f64,
    pub calls_after: f64,
    pub status_p50: f64,
    pub status_floor: f64,
    pub log_p50: f64,
    pub log_floor: f64,
    /// Seconds from the sweep that showed a guard due to its stop reaching the API, and the
    /// state-change gap.
    pub stop: Option<(f64, f64)>,
    pub lines: LineAccount,
    /// 429s answered to our calls: the disturbance's own, and those it cannot explain.
    pub rate_limited: (u64, u64),
    pub throttle_lines: usize,
    /// From the end of the disturbance to the last `back` line, and the bound it must meet.
    pub back: (Option<f64>, f64),
}

pub const HEADER: &str = "| mode | accepted calls/s 30 s after ÷ before | status age p50 ÷ floor | log age p50 ÷ floor | stop latency ÷ set_state gap | lost / dup lines (gaps) | 429s: disturbance / self-inflicted | throttle lines (human) | last `back` after the end ÷ 30 s |\n|---|---|---|---|---|---|---|---|---|";

impl Row {
    pub fn print(&self) {
        let stop = self.stop.map_or("–".to_owned(), |(s, gap)| {
            format!("{:.2}× ({s:.2} s ÷ {gap:.2} s)", s / gap)
        });
        let back = self.back.0.map_or("still limited".to_owned(), |s| {
            format!("{:.2}× ({s:.1} s)", s / self.back.1)
        });
        println!(
            "| {} | {:.3}× ({:.2} ÷ {:.2}) | {:.2}× ({:.1} s ÷ {:.0} s) | {:.2}× ({:.1} s ÷ {:.0} s) | {stop} | {} / {} ({}, {}) | {} / {} | {} | {back} |",
            self.mode,
            self.calls_after / self.calls_before.max(f64::MIN_POSITIVE),
            self.calls_after,
            self.calls_before,
            self.status_p50 / self.status_floor,
            self.status_p50,
            self.status_floor,
            self.log_p50 / self.log_floor,
            self.log_p50,
            self.log_floor,
            self.lines.lost,
            self.lines.duplicated,
            self.lines.gaps,
            self.lines.missed_at_gaps,
            self.rate_limited.0,
            self.rate_limited.1,
            self.throttle_lines,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn line(at: f64, endpoint: &str, change: &str) -> Timed {
        let scope = if endpoint == "key" { "key" } else { "endpoint" };
        let endpoint = (scope == "endpoint").then_some(endpoint);
        let event =
            json!({"event": "throttle", "scope": scope, "endpoint": endpoint, "change": change});
        (at, event)
    }

    #[test]
    fn back_is_the_last_back_line_and_only_when_nothing_is_left_limited() {
        let events = vec![
            line(61.0, "request_logs", "limited"),
            line(62.0, "list", "limited"),
            line(62.0, "key", "limited"),
            line(70.0, "request_logs", "step"),
            line(75.0, "key", "back"),
            line(80.0, "list", "back"),
            line(84.0, "request_logs", "back"),
        ];
        assert_eq!(throttle_lines(&events).len(), 6);
        assert_eq!(back_after(&events, 70.0), Some(14.0));
        assert_eq!(
            back_after(&events[..6], 70.0),
            None,
            "request_logs still out"
        );
        assert_eq!(back_after(&[], 70.0), Some(0.0), "never limited");
    }
}
