//! The "jobs end" comparison of issue 18: a large fleet whose jobs finish at random times,
//! each printing the completion line (and its result URL) and then, in one variant, dropping
//! `gpu_util` to 0 — in the other the GPU stays busy (the signal never comes). vastfleet's log
//! queue (`log_order = "signals"`) runs against plain round robin (`"round-robin"`) in the same
//! run: four watchers at once, each against its own simulator (so each has the whole API budget
//! of its own key), on identical scenarios.
//!
//! Times come from the simulator's own clock: a job's completion is its scripted running time
//! (the instances run from the simulator's start), its stop the first accepted state change.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::{RngExt, SeedableRng};
use serde_json::Value;
use vastfleet::sim::SimStats;
use vastfleet::throttle::{Endpoint, GAP_MARGIN};

use super::measure::{Accountant, LineAccount};
use super::steady;
use super::{sim_stats_text, spawn_sim, watcher, Args, Sim, SIM_KEY};

const FIRST_ID: u64 = 40_000_001;
/// Lines every instance prints while its job runs, one per this many seconds.
const LINE_EVERY: u64 = 5;
/// No job ends before this (the first status sweep has to see it busy).
const EARLIEST_END: u64 = 60;
/// Nor later than this before the end of the run, so round robin has a chance too.
const LATEST_END_BEFORE_CLOSE: u64 = 120;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Gpu {
    Drops,
    Stays,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Order {
    Signals,
    RoundRobin,
}

impl Order {
    fn key(self) -> &'static str {
        match self {
            Order::Signals => "signals",
            Order::RoundRobin => "round-robin",
        }
    }
}

/// When each ending job prints its completion (seconds of running time), by instance index.
fn plan(args: &Args) -> BTreeMap<usize, u64> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(18);
    let latest = args
        .jobs_seconds
        .saturating_sub(LATEST_END_BEFORE_CLOSE)
        .max(EARLIEST_END + 1);
    let every = (args.jobs_n / args.jobs_ending.max(1)).max(1);
    (0..args.jobs_n)
        .step_by(every)
        .take(args.jobs_ending)
        .map(|i| (i, rng.random_range(EARLIEST_END..latest)))
        .collect()
}

fn scenario(args: &Args, ends: &BTreeMap<usize, u64>, gpu: Gpu) -> String {
    let mut text = format!(
        "key = \"{SIM_KEY}\"\n[limits]\nmodel = \"{}\"\n[logs]\nmax_lines = 20000\n",
        args.model
    );
    for i in 0..args.jobs_n {
        let id = FIRST_ID + i as u64;
        let phase = 1 + i as u64 % LINE_EVERY;
        text.push_str(&format!("[[instance]]\nid = {id}\n"));
        if let Some(&end) = ends.get(&i) {
            text.push_str(&format!(
                "complete_at = \"{end}s\"\nresult_url = \"https://results.example/{id}\"\n"
            ));
            if gpu == Gpu::Drops {
                text.push_str(&format!(
                    "[[instance.gauge]]\nat = \"{}s\"\ngpu_util = 0\ncpu_util = 0.02\n",
                    end + 1
                ));
            }
        }
        // The job's lines stop with the job.
        let count = ends
            .get(&i)
            .map(|end| format!("count = {}\n", end.saturating_sub(phase) / LINE_EVERY + 1));
        text.push_str(&format!(
            "[[instance.log]]\nat = \"{phase}s\"\nevery = \"{LINE_EVERY}s\"\n{}text = \"instance {{id}} line {{n}}\"\n",
            count.unwrap_or_default()
        ));
    }
    text
}

fn fleet(args: &Args, order: Order) -> String {
    let mut text = format!(
        "[api]\nlog_order = \"{}\"\n[defaults]\ninterval = \"{}s\"\non_complete = \"stop\"\n",
        order.key(),
        args.interval
    );
    for i in 0..args.jobs_n {
        text.push_str(&format!("[[instance]]\nid = {}\n", FIRST_ID + i as u64));
    }
    text
}

/// One watcher and its simulator, running.
struct Side {
    gpu: Gpu,
    order: Order,
    sim: Sim,
    child: Child,
    lines: Arc<Mutex<Accountant>>,
    reader: std::thread::JoinHandle<()>,
}

fn start(
    dir: &Path,
    args: &Args,
    ends: &BTreeMap<usize, u64>,
    gpu: Gpu,
    order: Order,
) -> Result<Side, String> {
    let name = format!("jobs-{gpu:?}-{}", order.key()).to_lowercase();
    let scenario_path = dir.join(format!("{name}.scenario.toml"));
    std::fs::write(&scenario_path, scenario(args, ends, gpu)).map_err(|e| e.to_string())?;
    let sim = spawn_sim(&scenario_path)?;
    let fleet_path = dir.join(format!("{name}.toml"));
    std::fs::write(&fleet_path, fleet(args, order)).map_err(|e| e.to_string())?;
    let mut child = watcher(&fleet_path, &sim, dir, Stdio::piped())?;
    let stdout = child.stdout.take().ok_or("no watcher stdout")?;
    let lines: Arc<Mutex<Accountant>> = Arc::default();
    let sink = Arc::clone(&lines);
    // The stream of a thousand instances is hundreds of thousands of lines: counted as it
    // comes, kept only when asked.
    let mut kept = match &args.jobs_keep {
        Some(keep) => Some(
            std::fs::File::create(keep.join(format!("{name}.jsonl")))
                .map_err(|e| format!("{}: {e}", keep.display()))?,
        ),
        None => None,
    };
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(file) = kept.as_mut() {
                let _ = writeln!(file, "{line}");
            }
            if let Ok(value) = serde_json::from_str::<Value>(&line) {
                if let Ok(mut accountant) = sink.lock() {
                    accountant.feed(&value);
                }
            }
        }
    });
    Ok(Side {
        gpu,
        order,
        sim,
        child,
        lines,
        reader,
    })
}

/// What one side achieved.
struct Outcome {
    gpu: Gpu,
    order: Order,
    latencies: Vec<f64>,
    /// Of the stopped ones: completion → the first log read after it, and that read → stop.
    to_read: Vec<f64>,
    read_to_stop: Vec<f64>,
    undetected: usize,
    idle_hours: f64,
    worst_age_ratio: f64,
    answered_429: u64,
    /// Which endpoints answered them: a self-inflicted 429 names the pace that was too fast.
    by_endpoint_429: BTreeMap<String, u64>,
    /// Each 429's arrival after the endpoint's last accepted call (ms), as the simulator saw
    /// them: our departures are at least a gap apart, so a shorter arrival gap is a late
    /// arrival of the call before.
    gaps_429: Vec<(String, u64)>,
    lines: LineAccount,
}

fn instance_of(path: &str) -> Option<u64> {
    path.trim_end_matches('/').rsplit('/').next()?.parse().ok()
}

fn outcome(side: &Side, stats: &SimStats, args: &Args, ends: &BTreeMap<usize, u64>) -> Outcome {
    let end = stats.requests.iter().map(|r| r.at_ms).max().unwrap_or(0) as f64 / 1000.0;
    let mut stops: BTreeMap<u64, f64> = BTreeMap::new();
    let mut fetches: BTreeMap<u64, Vec<f64>> = BTreeMap::new();
    for r in stats.requests.iter().filter(|r| r.status == 200) {
        let (Some(id), at) = (instance_of(&r.path), r.at_ms as f64 / 1000.0) else {
            continue;
        };
        match r.endpoint.as_str() {
            "set_state" => {
                stops.entry(id).or_insert(at);
            }
            "request_logs" => fetches.entry(id).or_default().push(at),
            _ => {}
        }
    }
    let mut latencies = Vec::new();
    let (mut to_read, mut read_to_stop) = (Vec::new(), Vec::new());
    let (mut undetected, mut idle_seconds) = (0, 0.0);
    for (&i, &at) in ends {
        let id = FIRST_ID + i as u64;
        let read = fetches
            .get(&id)
            .and_then(|times| times.iter().copied().find(|t| *t >= at as f64));
        if let (Some(read), Some(stop)) = (read, stops.get(&id)) {
            to_read.push(read - at as f64);
            read_to_stop.push(stop - read);
        }
        // An undetected completion counts with the time it has waited so far: a lower bound.
        let stopped = stops.get(&id).copied().unwrap_or_else(|| {
            undetected += 1;
            end
        });
        latencies.push((stopped - at as f64).max(0.0));
        idle_seconds += (stopped - (at + 1) as f64).max(0.0);
    }
    latencies.sort_by(f64::total_cmp);
    to_read.sort_by(f64::total_cmp);
    read_to_stop.sort_by(f64::total_cmp);
    Outcome {
        gpu: side.gpu,
        order: side.order,
        latencies,
        to_read,
        read_to_stop,
        undetected,
        idle_hours: idle_seconds / 3600.0 * 100.0 / ends.len().max(1) as f64,
        worst_age_ratio: worst_age_ratio(&fetches, &stops, args.jobs_n, end),
        answered_429: stats.total_429,
        by_endpoint_429: stats.counts.iter().filter(|c| c.status == 429).fold(
            BTreeMap::new(),
            |mut by, c| {
                *by.entry(c.endpoint.clone()).or_default() += c.count;
                by
            },
        ),
        lines: side.lines.lock().map(|a| a.account).unwrap_or_default(),
        gaps_429: steady::refusals(&stats.requests)
            .into_iter()
            .filter_map(|r| Some((r.endpoint, r.after_endpoint_ms?)))
            .collect(),
    }
}

/// The longest wait between two log fetches of a running instance (or since its last one),
/// over the round-robin share at the time: one fetch spacing per instance still running.
fn worst_age_ratio(
    fetches: &BTreeMap<u64, Vec<f64>>,
    stops: &BTreeMap<u64, f64>,
    n: usize,
    end: f64,
) -> f64 {
    let spacing = (Endpoint::RequestLogs.documented_gap() + GAP_MARGIN).as_secs_f64();
    let mut stop_times: Vec<f64> = stops.values().copied().collect();
    stop_times.sort_by(f64::total_cmp);
    let running_at = |t: f64| (n - stop_times.partition_point(|s| *s <= t)).max(1) as f64;
    let first = fetches
        .values()
        .flatten()
        .copied()
        .fold(f64::INFINITY, f64::min);
    let mut worst: f64 = 0.0;
    for (id, times) in fetches {
        let until = stops.get(id).copied().unwrap_or(end);
        let mut marks: Vec<f64> = std::iter::once(first)
            .chain(times.iter().copied().filter(|t| *t <= until))
            .collect();
        marks.push(until);
        for w in marks.windows(2) {
            worst = worst.max((w[1] - w[0]) / (running_at(w[0]) * spacing));
        }
    }
    worst
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let k = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[k]
}

pub fn run(dir: &Path, args: &Args) -> Result<(), String> {
    let ends = plan(args);
    let mut sides = Vec::new();
    for gpu in [Gpu::Drops, Gpu::Stays] {
        for order in [Order::Signals, Order::RoundRobin] {
            sides.push(start(dir, args, &ends, gpu, order)?);
        }
    }
    std::thread::sleep(Duration::from_secs(args.jobs_seconds));
    let mut outcomes = Vec::new();
    for mut side in sides {
        let _ = std::process::Command::new("kill")
            .arg("-TERM")
            .arg(side.child.id().to_string())
            .status();
        let _ = side.child.wait();
        let text = sim_stats_text(&side.sim)?;
        if let Some(keep) = &args.jobs_keep {
            let name = format!("jobs-{:?}-{}.stats.json", side.gpu, side.order.key());
            std::fs::write(keep.join(name.to_lowercase()), &text).map_err(|e| e.to_string())?;
        }
        let stats: SimStats = serde_json::from_str(&text).map_err(|e| e.to_string())?;
        let reader = std::mem::replace(&mut side.reader, std::thread::spawn(|| {}));
        let _ = reader.join();
        outcomes.push(outcome(&side, &stats, args, &ends));
    }
    print(args, &ends, &outcomes);
    Ok(())
}

fn print(args: &Args, ends: &BTreeMap<usize, u64>, outcomes: &[Outcome]) {
    let floor = args.jobs_n.div_ceil(25) as f64;
    println!(
        "jobs end: N = {}, {} jobs ending between {EARLIEST_END} s and {} s, {} s run, status floor ⌈N/25⌉ = {floor} s\n",
        args.jobs_n,
        ends.len(),
        args.jobs_seconds.saturating_sub(LATEST_END_BEFORE_CLOSE),
        args.jobs_seconds
    );
    println!("| GPU after the job | log order | completion → stop p50 / p90 (÷ status floor) | not stopped by the end | idle GPU-hours per 100 completions | worst log age ÷ fair share | 429s | lost / dup lines (gaps) |");
    println!("|---|---|---|---|---|---|---|---|");
    for o in outcomes {
        let (p50, p90) = (percentile(&o.latencies, 0.5), percentile(&o.latencies, 0.9));
        let by: Vec<String> = o
            .by_endpoint_429
            .iter()
            .map(|(endpoint, n)| format!("{endpoint} {n}"))
            .collect();
        let by = if by.is_empty() {
            String::new()
        } else {
            format!(" ({})", by.join(", "))
        };
        println!(
            "| {:?} | {} | {p50:.0} s / {p90:.0} s ({:.2}× / {:.2}×) | {} | {:.3} | {:.2} | {}{by} | {} / {} ({}, {}) |",
            o.gpu,
            o.order.key(),
            p50 / floor,
            p90 / floor,
            o.undetected,
            o.idle_hours,
            o.worst_age_ratio,
            o.answered_429,
            o.lines.lost,
            o.lines.duplicated,
            o.lines.gaps,
            o.lines.missed_at_gaps,
        );
    }
    for o in outcomes {
        println!(
            "{:?} / {}: of {} stopped, completion → first log read after it p50 {:.1} s / p90 {:.1} s, that read → stop p50 {:.1} s / p90 {:.1} s",
            o.gpu,
            o.order.key(),
            o.to_read.len(),
            percentile(&o.to_read, 0.5),
            percentile(&o.to_read, 0.9),
            percentile(&o.read_to_stop, 0.5),
            percentile(&o.read_to_stop, 0.9),
        );
    }
    for o in outcomes.iter().filter(|o| !o.gaps_429.is_empty()) {
        let gaps: Vec<String> = o
            .gaps_429
            .iter()
            .map(|(endpoint, ms)| format!("{endpoint} {ms} ms"))
            .collect();
        println!(
            "429s of {:?} / {}, arrival after the last accepted call: {}",
            o.gpu,
            o.order.key(),
            gaps.join(", ")
        );
    }
    for pair in outcomes.chunks(2) {
        if let [ours, theirs] = pair {
            let ratio = |a: f64, b: f64| {
                if b > 0.0 {
                    format!("{:.3}×", a / b)
                } else {
                    "–".into()
                }
            };
            println!(
                "| {:?} | signals ÷ round-robin | p50 {} / p90 {} | | {} | | | |",
                ours.gpu,
                ratio(
                    percentile(&ours.latencies, 0.5),
                    percentile(&theirs.latencies, 0.5)
                ),
                ratio(
                    percentile(&ours.latencies, 0.9),
                    percentile(&theirs.latencies, 0.9)
                ),
                ratio(ours.idle_hours, theirs.idle_hours),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn ending_jobs_print_their_lines_until_the_end_and_then_idle() {
        let args = Args::parse_from([
            "bench",
            "--jobs-seconds",
            "900",
            "--jobs-n",
            "10",
            "--jobs-ending",
            "5",
        ]);
        let ends = plan(&args);
        assert_eq!(ends.len(), 5);
        assert!(ends.values().all(|t| (EARLIEST_END..780).contains(t)));
        let text = scenario(&args, &ends, Gpu::Drops);
        let parsed = vastfleet::sim::Scenario::from_toml(&text, "jobs.toml").unwrap();
        assert_eq!(parsed.instances.len(), 10);
        let ending = &parsed.instances[0];
        assert!(ending.complete_at.is_some());
        assert_eq!(ending.gauges.len(), 1);
        assert!(ending.log[0].count.is_some());
        assert!(
            parsed.instances[1].complete_at.is_none() && parsed.instances[1].log[0].count.is_none()
        );
        let stays =
            vastfleet::sim::Scenario::from_toml(&scenario(&args, &ends, Gpu::Stays), "s").unwrap();
        assert!(stays.instances.iter().all(|i| i.gauges.is_empty()));
    }

    #[test]
    fn the_worst_age_is_taken_against_the_instances_still_running() {
        // Two instances, one fetch spacing each: fair share 2 spacings while both run.
        let spacing = (Endpoint::RequestLogs.documented_gap() + GAP_MARGIN).as_secs_f64();
        let fetches = BTreeMap::from([(1, vec![0.0, 2.0 * spacing]), (2, vec![spacing])]);
        let stops = BTreeMap::from([(2, spacing * 1.5)]);
        let worst = worst_age_ratio(&fetches, &stops, 2, 2.0 * spacing);
        assert!((worst - 1.0).abs() < 1e-9, "{worst}");
    }
}
