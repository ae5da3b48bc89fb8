//! `vastfleet-bench`: vastfleet at N instances against the simulator, measured against the API's
//! own rate floor and against the one-poller-per-instance design it replaces, in the same run.
//!
//! The simulator, the watcher and the baseline each run as their own process (the `vastfleet`
//! binary next to this one, and this binary in `baseline` mode), so the RSS and CPU reported
//! are the watcher's alone. Prints a markdown table.
//!
//!     cargo build --release
//!     target/release/vastfleet-bench --n 10,100,1000 --seconds 600
//!     target/release/vastfleet-bench --top-seconds 120      # issue 15: top's cost

mod baseline;
mod jobs;
mod measure;
mod outside;
mod procstat;
mod startup;
mod steady;
mod storm;
mod top;
mod watched;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use serde_json::Value;
use vastfleet::sim::SimStats;

use measure::{Figures, Floor};

/// The key of the generated scenarios (it opens nothing but the benchmark's simulator).
const SIM_KEY: &str = "bench-key";
/// Instances that print the completion line, to time detection → action.
const COMPLETING: usize = 2;

#[derive(Parser)]
#[command(about = "vastfleet at N instances vs the API's floor and vs a poller per instance")]
struct Args {
    #[command(subcommand)]
    mode: Option<Mode>,
    /// Fleet sizes, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "10,100,1000")]
    n: Vec<usize>,
    /// How long vastfleet watches each fleet.
    #[arg(long, default_value_t = 120)]
    seconds: u64,
    /// How long the baseline runs per fleet (its figures settle fast; it is costly at scale).
    #[arg(long, default_value_t = 60)]
    baseline_seconds: u64,
    /// Poll interval of both sides, seconds.
    #[arg(long, default_value_t = 5)]
    interval: u64,
    /// Log lines each instance prints per second.
    #[arg(long, default_value_t = 0.2)]
    lines_per_second: f64,
    /// Also run the self-tuning check this long: 10 instances, a ceiling of 4 calls/s, a
    /// server that allows only 1 (0 skips it).
    #[arg(long, default_value_t = 0)]
    aimd_seconds: u64,
    /// The simulator's rate model. "strict" (a hard minimum gap per endpoint) is the floor the
    /// figures are ratios to, so it is named here rather than left to the simulator's default
    /// ("bucket": a small burst per endpoint), which only lets more through.
    #[arg(long, default_value = "strict", value_parser = ["strict", "bucket"])]
    model: String,
    /// Run only the "jobs end" comparison this long (issue 18): --jobs-n running instances,
    /// --jobs-ending of them finishing at random times, vastfleet's log queue against plain
    /// round robin, with the GPU dropping to 0 after the completion and with it staying busy;
    /// all four watchers at once, each on its own simulator (0: the ordinary table instead).
    #[arg(long, default_value_t = 0)]
    jobs_seconds: u64,
    #[arg(long, default_value_t = 1000)]
    jobs_n: usize,
    #[arg(long, default_value_t = 400)]
    jobs_ending: usize,
    /// Keep each jobs-end watcher's `--json` stream and its simulator's stats with the request
    /// log in this directory, to follow one job from its completion to its stop.
    #[arg(long)]
    jobs_keep: Option<PathBuf>,
    /// Run only the start-up check: `vastfleet check` of a fleet of this many instances and of
    /// a tenth of it (issue 17: 100,000 in under 2 s; 0: the ordinary table instead).
    #[arg(long, default_value_t = 0)]
    startup: usize,
    /// Run only the `top` figure this long (issue 15): one watcher of --top-n instances, its
    /// CPU without and with a reader doing what `top` does, and that reader's frame time
    /// (0: the ordinary table instead).
    #[arg(long, default_value_t = 0)]
    top_seconds: u64,
    #[arg(long, default_value_t = 1000)]
    top_n: usize,
    /// Run only the disturbance modes (issue 11), --storm-n instances each: a storm of seeded
    /// fault windows (429s among 5xx and dropped connections) this long, then quiet …
    #[arg(long, default_value_t = 0)]
    storm_seconds: u64,
    /// … and another client on the same key bursting this long (0 skips either).
    #[arg(long, default_value_t = 0)]
    outside_seconds: u64,
    #[arg(long, default_value_t = 20)]
    storm_n: usize,
}

/// The self-tuning check's server limit and configured ceiling.
const AIMD_SERVER: f64 = 1.0;
const AIMD_CEILING: f64 = 4.0;

#[derive(Subcommand)]
enum Mode {
    /// (internal) Run the baseline pollers against URL until killed.
    Baseline {
        url: String,
        first_id: u64,
        n: usize,
        interval: u64,
    },
}

fn main() {
    let args = Args::parse();
    if let Some(Mode::Baseline {
        url,
        first_id,
        n,
        interval,
    }) = args.mode
    {
        let ids = (first_id..first_id + n as u64).collect();
        let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
        runtime.block_on(baseline::run(
            url,
            SIM_KEY.to_owned(),
            ids,
            Duration::from_secs(interval),
        ));
        return;
    }
    if let Err(err) = drive(&args) {
        eprintln!("vastfleet-bench: {err}");
        std::process::exit(1);
    }
}

fn drive(args: &Args) -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    if args.jobs_seconds > 0 {
        return jobs::run(dir.path(), args);
    }
    if args.startup > 0 {
        return startup::run(dir.path(), args.startup);
    }
    if args.top_seconds > 0 {
        return top::run(dir.path(), args);
    }
    if args.storm_seconds > 0 || args.outside_seconds > 0 {
        return disturbed(dir.path(), args);
    }
    println!(
        "| N | side | status age p50 / max (÷ floor) | log age p50 / max (÷ floor) | detect→action (÷ floor) | calls / instance-min (status only) | 429s | lost / dup lines (gaps: markers, lines) | peak RSS | CPU |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for &n in &args.n {
        // The completing instances stop after 20 s: the rest share the logs gap.
        let floor = Floor::new(n, n.saturating_sub(COMPLETING), args.interval as f64);
        let ours = run_vastfleet(dir.path(), n, args)?;
        let theirs = run_baseline(dir.path(), n, args)?;
        print_row(n, "vastfleet", &ours, floor);
        print_row(n, "baseline", &theirs, floor);
        println!(
            "| {n} | vastfleet ÷ baseline | {} | {} | | {} ({}) | | | {} | {} |",
            ratio(ours.status_age.1, theirs.status_age.1),
            ratio(ours.log_age.1, theirs.log_age.1),
            ratio(
                ours.calls_per_instance_minute,
                theirs.calls_per_instance_minute
            ),
            ratio(
                ours.status_calls_per_instance_minute,
                theirs.status_calls_per_instance_minute
            ),
            ratio(ours.peak_rss_mb, theirs.peak_rss_mb),
            ratio(ours.cpu_seconds_per_minute, theirs.cpu_seconds_per_minute),
        );
    }
    if args.aimd_seconds > 0 {
        self_tuning(dir.path(), args)?;
    }
    Ok(())
}

/// The storm and the outside client, one after the other, in one table.
fn disturbed(dir: &Path, args: &Args) -> Result<(), String> {
    let mut rows = Vec::new();
    if args.storm_seconds > 0 {
        rows.push(storm::run(dir, args)?);
    }
    if args.outside_seconds > 0 {
        rows.push(outside::run(dir, args)?);
    }
    println!(
        "\nrate before: {} s to {} s; after: from {} s after the end of the disturbance, for {} s; interval {} s, model {}\n",
        storm::BEFORE.from_ms / 1000,
        storm::BEFORE.to_ms / 1000,
        storm::RECOVERED_AFTER.as_secs(),
        storm::MEASURED_FOR.as_secs(),
        args.interval,
        args.model,
    );
    println!("{}", watched::HEADER);
    rows.iter().for_each(watched::Row::print);
    Ok(())
}

/// A server stricter than the configured ceiling: how much of its budget the self-tuned rate
/// uses, and how many calls it refuses.
fn self_tuning(dir: &Path, args: &Args) -> Result<(), String> {
    let n = 10;
    let limits = format!("overall_per_second = {AIMD_SERVER}\noverall_burst = 1\n");
    let sim = start_sim_with(dir, n, args, &limits)?;
    let fleet = dir.join("fleet-aimd.toml");
    let text = format!(
        "[api]\nrate_limit = {{ per_second = {AIMD_CEILING}, burst = 1 }}\n{}",
        fleet_text(n, 2)
    );
    std::fs::write(&fleet, text).map_err(|e| e.to_string())?;
    let mut child = watcher(&fleet, &sim, dir, Stdio::null())?;
    let _ = measure_child(&mut child, args.aimd_seconds);
    let stats = sim_stats(&sim)?;
    let api = |ok_only: bool| -> u64 {
        stats
            .counts
            .iter()
            .filter(|c| c.endpoint != "log_result" && (!ok_only || c.status == 200))
            .map(|c| c.count)
            .sum()
    };
    let accepted = api(true) as f64 / args.aimd_seconds as f64;
    println!(
        "\nself-tuning over {} s: ceiling {AIMD_CEILING}/s, server limit {AIMD_SERVER}/s → {accepted:.3} calls/s accepted ({:.1}% of the limit), {} of {} calls answered 429 ({:.2}%)",
        args.aimd_seconds,
        100.0 * accepted / AIMD_SERVER,
        stats.total_429,
        api(false),
        100.0 * stats.total_429 as f64 / api(false).max(1) as f64,
    );
    let run_ms = args.aimd_seconds * 1000;
    let settled = steady::span(&stats.requests, steady::SETTLED_AFTER_MS, run_ms);
    if settled.seconds > 0.0 {
        println!(
            "after the first descent ({} s to {} s of the run): {:.3} calls/s accepted ({:.1}% of the limit), {} of {} calls answered 429 ({:.2}%)",
            steady::SETTLED_AFTER_MS / 1000,
            args.aimd_seconds,
            settled.accepted_per_second(),
            100.0 * settled.accepted_per_second() / AIMD_SERVER,
            settled.refused,
            settled.calls,
            100.0 * settled.refused_share(),
        );
    }
    let minutes: Vec<String> = steady::timeline(&stats.requests, run_ms)
        .iter()
        .map(|s| format!("{:.2}/s {}×429", s.accepted_per_second(), s.refused))
        .collect();
    println!("per minute: {}", minutes.join(", "));
    let refusals: Vec<String> = steady::refusals(&stats.requests)
        .iter()
        .map(|r| {
            let ms = |t: Option<u64>| t.map_or("–".to_owned(), |t| t.to_string());
            format!(
                "{:.1} s {} (key +{} ms, own +{} ms)",
                r.at_ms as f64 / 1000.0,
                r.endpoint,
                ms(r.after_key_ms),
                ms(r.after_endpoint_ms)
            )
        })
        .collect();
    println!("429s: {}", refusals.join("; "));
    Ok(())
}

fn ratio(a: f64, b: f64) -> String {
    if b > 0.0 {
        format!("{:.3}×", a / b)
    } else {
        "–".to_owned()
    }
}

fn print_row(n: usize, side: &str, f: &Figures, floor: Floor) {
    let age = |(p50, max): (f64, f64), floor: f64| {
        if max == 0.0 {
            "none".to_owned()
        } else {
            format!(
                "{p50:.1} s / {max:.1} s ({:.2}× / {:.2}×)",
                p50 / floor,
                max / floor
            )
        }
    };
    let action = f.action_latency.map_or("–".to_owned(), |s| {
        format!("{s:.2} s ({:.2}×)", s / floor.action)
    });
    println!(
        "| {n} | {side} | {} | {} | {action} | {:.2} ({:.2}) | {} | {} / {} ({}, {}) | {:.1} MB | {:.2} s/min ({:.2}% core) |",
        age(f.status_age, floor.status),
        age(f.log_age, floor.logs),
        f.calls_per_instance_minute,
        f.status_calls_per_instance_minute,
        f.answered_429,
        f.lines.lost,
        f.lines.duplicated,
        f.lines.gaps,
        f.lines.missed_at_gaps,
        f.peak_rss_mb,
        f.cpu_seconds_per_minute,
        f.cpu_seconds_per_minute / 60.0 * 100.0,
    );
}

const FIRST_ID: u64 = 30_000_001;

/// The benchmark's account; `limits` are more keys of its `[limits]` table.
fn scenario_text(n: usize, args: &Args, limits: &str) -> String {
    let (model, lines_per_second) = (&args.model, args.lines_per_second);
    let mut text = format!(
        "key = \"{SIM_KEY}\"\n[limits]\nmodel = \"{model}\"\n{limits}[logs]\nmax_lines = 20000\n"
    );
    for i in 0..n {
        let id = FIRST_ID + i as u64;
        text.push_str(&format!(
            "[[instance]]\nid = {id}\nlines_per_second = {lines_per_second}\nline_text = \"instance {{id}} line {{n}}\"\n"
        ));
        if i < COMPLETING {
            text.push_str(
                "complete_at = \"20s\"\nresult_url = \"https://results.example/bench\"\n",
            );
        }
    }
    text
}

fn fleet_text(n: usize, interval: u64) -> String {
    let mut text = format!("[defaults]\ninterval = \"{interval}s\"\non_complete = \"none\"\n");
    for i in 0..n {
        text.push_str(&format!("[[instance]]\nid = {}\n", FIRST_ID + i as u64));
        if i < COMPLETING {
            text.push_str("on_complete = \"stop\"\n");
        }
    }
    text
}

/// The `vastfleet` binary built next to this one.
fn vastfleet_bin() -> Result<PathBuf, String> {
    let me = std::env::current_exe().map_err(|e| e.to_string())?;
    let bin = me.with_file_name("vastfleet");
    bin.exists()
        .then_some(bin)
        .ok_or_else(|| "build the vastfleet binary first (cargo build --release)".to_owned())
}

struct Sim {
    child: Child,
    url: String,
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_sim(dir: &Path, n: usize, args: &Args) -> Result<Sim, String> {
    start_sim_with(dir, n, args, "")
}

/// The simulator with more `limits` keys in its scenario.
fn start_sim_with(dir: &Path, n: usize, args: &Args, limits: &str) -> Result<Sim, String> {
    let scenario = dir.join(format!("scenario-{n}.toml"));
    let text = scenario_text(n, args, limits);
    std::fs::write(&scenario, text).map_err(|e| e.to_string())?;
    spawn_sim(&scenario)
}

/// `vastfleet sim` serving the scenario file, once it listens.
fn spawn_sim(scenario: &Path) -> Result<Sim, String> {
    let mut child = Command::new(vastfleet_bin()?)
        .args(["sim", "--port", "0", "--scenario"])
        .arg(scenario)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| e.to_string())?;
    let stdout = child.stdout.take().ok_or("no simulator stdout")?;
    let mut first = String::new();
    BufReader::new(stdout)
        .read_line(&mut first)
        .map_err(|e| e.to_string())?;
    let url = first
        .trim()
        .strip_prefix("listening on ")
        .ok_or_else(|| format!("unexpected simulator output: {first}"))?
        .to_owned();
    Ok(Sim { child, url })
}

fn sim_stats(sim: &Sim) -> Result<SimStats, String> {
    serde_json::from_str(&sim_stats_text(sim)?).map_err(|e| e.to_string())
}

/// The simulator's stats as it sent them (with its request log), to keep for a closer look.
fn sim_stats_text(sim: &Sim) -> Result<String, String> {
    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    runtime.block_on(async {
        reqwest::get(format!("{}/__sim/stats", sim.url))
            .await
            .map_err(|e| e.to_string())?
            .text()
            .await
            .map_err(|e| e.to_string())
    })
}

/// Runs `child` for `seconds`, then reads its peak RSS and CPU time and stops it.
fn measure_child(child: &mut Child, seconds: u64) -> (f64, f64) {
    std::thread::sleep(Duration::from_secs(seconds));
    let rss = procstat::peak_rss_mb(child.id()).unwrap_or(0.0);
    let cpu = procstat::cpu_seconds(child.id()).unwrap_or(0.0);
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let _ = child.wait();
    (rss, cpu)
}

fn run_vastfleet(dir: &Path, n: usize, args: &Args) -> Result<Figures, String> {
    let sim = start_sim(dir, n, args)?;
    let fleet = dir.join(format!("fleet-{n}.toml"));
    std::fs::write(&fleet, fleet_text(n, args.interval)).map_err(|e| e.to_string())?;
    let _ = std::fs::remove_file(dir.join(format!(".fleet-{n}.toml.state.json")));
    let mut child = watcher(&fleet, &sim, dir, Stdio::piped())?;
    let stdout = child.stdout.take().ok_or("no watcher stdout")?;
    let stream: Arc<Mutex<Vec<(Instant, Value)>>> = Arc::default();
    let sink = Arc::clone(&stream);
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Ok(value) = serde_json::from_str(&line) {
                sink.lock()
                    .map(|mut s| s.push((Instant::now(), value)))
                    .ok();
            }
        }
    });
    let (rss, cpu) = measure_child(&mut child, args.seconds);
    let _ = reader.join();
    let stats = sim_stats(&sim)?;
    let events = stream.lock().map(|s| s.clone()).unwrap_or_default();
    let values: Vec<Value> = events.iter().map(|(_, v)| v.clone()).collect();
    let lines = measure::line_accounting(&values);
    Ok(Figures {
        status_age: measure::p50_max(measure::status_ages(&stats)),
        log_age: measure::p50_max(measure::log_ages(&stats)),
        action_latency: action_latency(&events),
        calls_per_instance_minute: per_instance_minute(&stats, n, args.seconds, None),
        status_calls_per_instance_minute: per_instance_minute(
            &stats,
            n,
            args.seconds,
            Some("list"),
        ),
        answered_429: stats.total_429,
        lines,
        peak_rss_mb: rss,
        cpu_seconds_per_minute: cpu / (args.seconds as f64 / 60.0),
    })
}

/// `vastfleet watch FLEET --json` against `sim`. A piped stdout must be read all along, or
/// the watcher blocks on a full pipe.
fn watcher(fleet: &Path, sim: &Sim, home: &Path, stdout: Stdio) -> Result<Child, String> {
    Command::new(vastfleet_bin()?)
        .arg("watch")
        .arg(fleet)
        .arg("--json")
        .env("VAST_URL", &sim.url)
        .env("VAST_API_KEY", SIM_KEY)
        .env("HOME", home)
        .stdout(stdout)
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| e.to_string())
}

fn run_baseline(dir: &Path, n: usize, args: &Args) -> Result<Figures, String> {
    let sim = start_sim(dir, n, args)?;
    let me = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut child = Command::new(me)
        .args(["baseline", &sim.url])
        .args([
            FIRST_ID.to_string(),
            n.to_string(),
            args.interval.to_string(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| e.to_string())?;
    let seconds = args.baseline_seconds.min(args.seconds);
    let (rss, cpu) = measure_child(&mut child, seconds);
    let stats = sim_stats(&sim)?;
    Ok(Figures {
        status_age: measure::p50_max(measure::status_ages(&stats)),
        log_age: measure::p50_max(measure::log_ages(&stats)),
        action_latency: None,
        calls_per_instance_minute: per_instance_minute(&stats, n, seconds, None),
        status_calls_per_instance_minute: per_instance_minute(&stats, n, seconds, Some("show")),
        answered_429: stats.total_429,
        lines: Default::default(),
        peak_rss_mb: rss,
        cpu_seconds_per_minute: cpu / (seconds as f64 / 60.0),
    })
}

/// API calls (all, or one endpoint's) per instance per minute. The log result downloads go to
/// the storage bucket, not the rate-limited API, so they are not counted.
fn per_instance_minute(stats: &SimStats, n: usize, seconds: u64, endpoint: Option<&str>) -> f64 {
    let calls: u64 = stats
        .counts
        .iter()
        .filter(|c| c.endpoint != "log_result")
        .filter(|c| endpoint.is_none_or(|e| c.endpoint == e))
        .map(|c| c.count)
        .sum();
    calls as f64 / n as f64 / (seconds as f64 / 60.0)
}

/// The worst time from a completion event to its action event, as the watcher printed them.
fn action_latency(events: &[(Instant, Value)]) -> Option<f64> {
    let mut worst: Option<f64> = None;
    for (at, event) in events.iter().filter(|(_, e)| e["event"] == "completion") {
        let id = &event["instance"];
        let acted = events
            .iter()
            .find(|(t, e)| t >= at && e["event"] == "action" && e["instance"] == *id)?;
        let latency = acted.0.duration_since(*at).as_secs_f64();
        worst = Some(worst.map_or(latency, |w: f64| w.max(latency)));
    }
    worst
}
